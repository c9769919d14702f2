"""groundedness with the real embedded MiniLM on planted answers, and groundedness_nli's
bad-input path (no NLI model ships, so its scoring path is not exercised here)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from harness.cli.main import cli
from harness.errors import ConfigError, ModelError
from harness.scoring import build_scorer
from harness.scoring.grounding import split_sentences
from harness.types import Context, Example, Response, Sample

# Three passages as a RAG arm would retrieve them (copied from the demo knowledge base).
FARES = """## Adult single fares

An adult single fare costs 2.40 credits when you pay with a Glow card or a contactless bank card or
phone. A paper single ticket costs 3 credits. Paper single tickets are sold at the ticket machines
in every metro station.

Contactless bank cards and phones are charged exactly the same fares as a Glow card.

## Transfers

A single fare lets you change between any lines (metro, tram and bus) for 90 minutes from your first
tap. You do not pay again when you change within that time."""
PASSES = """## Day Pass

A Day Pass costs 7.50 credits for adults and 3.75 credits for children. It gives unlimited travel on
every line, including Nightglow buses, until 04:00 the morning after you first use it."""
NIGHT = """## Nightglow buses

Three Nightglow buses run overnight:

- N1: Harbourgate to Northfield Park, via Central Exchange
- N2: Central Exchange to Lumen Airport
- N3: Central Exchange to Eastbrook Hospital

Nightglow buses run from 00:30 to 05:00 every night: every 20 minutes on Friday and Saturday nights,
every 40 minutes on other nights."""
CONTEXTS = (Context("fares", FARES, 0.8, "fares#0"), Context("passes", PASSES, 0.7, "passes#3"),
            Context("night", NIGHT, 0.6, "night#0"))

SUPPORTED = [  # copies and paraphrases of facts in CONTEXTS
    "A paper single ticket costs 3 credits.",
    "An adult single fare costs 2.40 credits with a Glow card.",
    "With one fare you can change between metro, tram and bus for 90 minutes.",
    "Paying with a contactless bank card costs the same as paying with a Glow card.",
    "A Day Pass is 7.50 credits for an adult and 3.75 credits for a child.",
    "The N2 night bus goes from Central Exchange to Lumen Airport.",
    "Nightglow buses run every 20 minutes on Friday and Saturday nights.",
]
UNSUPPORTED = [  # plausible transit facts that CONTEXTS do not contain, and off-topic ones
    "Dogs must travel on a lead and ride free of charge.",
    "Lost items are kept at the lost property office for 30 days.",
    "Folding bicycles are allowed on all trains at any time.",
    "Refunds for delays over 30 minutes are paid within five working days.",
    "Luggage larger than 80 centimetres is not allowed on buses.",
    "Photosynthesis converts light energy into chemical energy.",
    "The Eiffel Tower is in Paris.",
]


def sample(answer: str, contexts: tuple[Context, ...] = CONTEXTS) -> Sample:
    example = Example("q1", ({"role": "user", "content": "How much is a ticket?"},), "unused")
    return Sample(example, Response(answer), arm="rag", contexts=contexts)


@pytest.fixture(scope="module")
def grounded():
    return build_scorer("groundedness", {})


def test_answers_copied_or_paraphrased_from_the_context_are_fully_grounded(grounded):
    scores = grounded.score_samples([sample(a) for a in SUPPORTED])
    assert [s.value for s in scores] == [1.0] * len(SUPPORTED), [s.explanation for s in scores]


def test_answers_stating_facts_absent_from_the_context_score_zero(grounded):
    scores = grounded.score_samples([sample(a) for a in UNSUPPORTED])
    assert [s.value for s in scores] == [0.0] * len(UNSUPPORTED), [s.explanation for s in scores]
    assert scores[0].explanation.startswith("0/1 sentences with cosine >= 0.6; least supported")


def test_a_mixed_answer_scores_its_share_of_supported_sentences_and_names_the_weakest(grounded):
    answer = " ".join([SUPPORTED[0], UNSUPPORTED[0], SUPPORTED[4], UNSUPPORTED[5]])
    score = grounded.score_samples([sample(answer)])[0]
    assert score.value == 0.5
    assert score.explanation.startswith("2/4 sentences with cosine >= 0.6; least supported (0.")
    assert repr(UNSUPPORTED[5]) in score.explanation  # the off-topic one is the least supported


def test_a_changed_number_is_not_caught_by_embedding_support(grounded):
    # The documented blind spot: "3.40" for "2.40" keeps the sentence's meaning for MiniLM, so a
    # wrong figure phrased like the context still counts as grounded. Use groundedness_nli (or
    # an exact-match check on the figure) when numbers matter.
    wrong = sample("An adult single fare costs 3.40 credits with a Glow card.")
    assert grounded.score_samples([wrong])[0].value == 1.0


def test_a_batch_embeds_shared_passages_once_and_scores_like_one_by_one(grounded):
    answers = [SUPPORTED[1], UNSUPPORTED[1], f"{SUPPORTED[2]} {UNSUPPORTED[2]}"]
    together = grounded.score_samples([sample(a) for a in answers])
    alone = [grounded.score_samples([sample(a)])[0] for a in answers]
    assert [s.value for s in together] == [s.value for s in alone] == [1.0, 0.0, 0.5]


def test_no_context_or_no_sentence_scores_zero_with_the_reason(grounded):
    none, blank, empty = grounded.score_samples(
        [sample(SUPPORTED[0], contexts=()), sample(SUPPORTED[0], (Context("d", "  \n"),)),
         sample(" ... ")])
    assert (none.value, none.explanation) == (0.0, "no retrieved context to ground the answer in")
    assert (blank.value, blank.explanation) == (0.0, none.explanation)
    assert (empty.value, empty.explanation) == (0.0, "answer has no sentence to check")


def test_the_field_option_checks_only_that_json_field():
    bound = build_scorer("groundedness", {"field": "answer"})
    good = json.dumps({"topic": UNSUPPORTED[0], "answer": SUPPORTED[0]})
    ok, missing = bound.score_samples([sample(good), sample(SUPPORTED[0])])
    assert (ok.value, ok.answer) == (1.0, SUPPORTED[0])
    assert (missing.value, missing.explanation) == (0.0, "output is not JSON with field answer")


def test_whole_chunk_units_give_lower_support_than_sentence_units():
    # Why `unit: sentence` is the default: a one-fact sentence is diluted in a whole chunk.
    answer = sample(SUPPORTED[3])
    by_sentence = build_scorer("groundedness", {"threshold": 0.0}).score_samples([answer])[0]
    by_chunk = build_scorer("groundedness", {"threshold": 0.0, "unit": "chunk"}).score_samples(
        [answer])[0]
    support = [float(s.explanation.split("(")[1].split(")")[0]) for s in (by_sentence, by_chunk)]
    assert support[0] > support[1] + 0.1


def test_groundedness_needs_context_and_not_a_reference(grounded):
    assert grounded.info.needs == frozenset({"context"}) and grounded.info.batch


@pytest.mark.parametrize(("options", "message"), [
    ({"threshold": 1.5}, "option 'threshold' must be a number from 0 to 1, got 1.5"),
    ({"unit": "paragraph"}, "option 'unit' must be one of sentence, chunk, got 'paragraph'"),
    ({"batch_size": 0}, "option 'batch_size' must be a positive integer, got 0"),
])
def test_bad_options_are_config_errors_naming_the_option(options, message):
    with pytest.raises(ConfigError, match=re.escape(f"scorer 'groundedness': {message}")):
        build_scorer("groundedness", options)


def test_sentences_split_on_ends_and_markdown_items_not_on_decimals_or_wrapped_lines():
    assert split_sentences(FARES)[:3] == [
        "Adult single fares",
        "An adult single fare costs 2.40 credits when you pay with a Glow card or a contactless "
        "bank card or phone.",
        "A paper single ticket costs 3 credits.",
    ]
    assert split_sentences(NIGHT)[2:4] == ["N1: Harbourgate to Northfield Park, via Central "
                                           "Exchange", "N2: Central Exchange to Lumen Airport"]
    assert split_sentences("Yes! It runs, e.g. on Sundays.\n\n---\n\n2 lines?") == [
        "Yes!", "It runs, e.g. on Sundays.", "2 lines?"]


# groundedness_nli: no NLI model is on disk here, so only the bad-input path is tested.

def test_nli_variant_with_a_missing_model_folder_fails_when_built(tmp_path):
    with pytest.raises(ModelError, match=r"groundedness_nli.*NLI model folder .*nli does not "
                                         r"exist"):
        build_scorer("groundedness_nli", {"model": "nli"}, base_dir=tmp_path)
    (tmp_path / "nli").mkdir()
    with pytest.raises(ModelError, match=r"has no config\.json"):
        build_scorer("groundedness_nli", {"model": "nli"}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="option 'model' must be a non-empty string"):
        build_scorer("groundedness_nli", {"model": None}, base_dir=tmp_path)


def test_nli_variant_with_a_missing_model_is_one_line_exit_4_at_suite_load(tmp_path):
    (tmp_path / "golden.jsonl").write_text(json.dumps({"id": "q", "instruction": "hi",
                                                       "output": "hi"}) + "\n")
    suite = {"name": "g", "golden_sets": [{"path": "golden.jsonl"}],
             "engine": {"kind": "scripted", "default": "{user}"},
             "arms": [{"name": "p", "kind": "prompt"}],
             "scorers": [{"name": "nli", "kind": "groundedness_nli",
                          "options": {"model": "models/nli"}}]}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "suite.yaml")])
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 4 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    assert f"NLI model folder {tmp_path / 'models' / 'nli'} does not exist" in lines[0]
