"""The built-in scorers against hand-computed values and their reference libraries."""

from __future__ import annotations

import json

import pytest
import sacrebleu
from hypothesis import given
from hypothesis import strategies as st
from rouge_score.rouge_scorer import RougeScorer

from harness.errors import ConfigError, DataError
from harness.scoring import build_scorer, first_json_object
from harness.scoring.labels import LabelExtractor
from harness.scoring.text import normalize_answer
from harness.types import Example, Score


def ex(reference: str, **metadata) -> Example:
    return Example("e1", ({"role": "user", "content": "q"},), reference, metadata=metadata)


def value(kind: str, reference: str, output: str, **options) -> float:
    return build_scorer(kind, options).score(ex(reference), output).value


# exact_match / normalized_exact_match / contains


def test_exact_match_ignores_surrounding_whitespace_but_not_case():
    assert value("exact_match", "Paris", " Paris\n") == 1.0
    assert value("exact_match", "Paris", "paris") == 0.0


def test_exact_match_with_strip_false_counts_whitespace():
    assert value("exact_match", "Paris", " Paris", strip=False) == 0.0


def test_normalize_answer_follows_squad_rules():
    assert normalize_answer("The  Cat's hat!") == "cats hat"
    assert normalize_answer("An apple, a day") == "apple day"
    assert normalize_answer("\u201cParis\u201d") == "paris"  # curly quotes are punctuation too


def test_normalized_exact_match_ignores_case_punctuation_and_articles():
    assert value("normalized_exact_match", "eiffel tower", "The Eiffel Tower!") == 1.0
    assert value("normalized_exact_match", "eiffel tower", "Eiffel") == 0.0


def test_contains_raw_is_a_case_sensitive_substring_test():
    assert value("contains", "Paris", "It is Paris.") == 1.0
    assert value("contains", "Paris", "it is paris") == 0.0
    assert value("contains", "cat", "concatenate") == 1.0


def test_contains_normalized_matches_whole_tokens_only():
    assert value("contains", "the Cat", "I saw a CAT!", normalize=True) == 1.0
    assert value("contains", "cat", "concatenate", normalize=True) == 0.0
    assert value("contains", "new york", "in new  york city", normalize=True) == 1.0


# regex


def test_regex_searches_the_output_and_reports_the_match():
    score = build_scorer("regex", {"pattern": r"\d+"}).score(ex(""), "it is 42 today")
    assert (score.value, score.answer) == (1.0, "42")
    assert value("regex", "", "no digits", pattern=r"\d+") == 0.0


def test_regex_options_ignore_case_and_full_match():
    assert value("regex", "", "YES", pattern="yes") == 0.0
    assert value("regex", "", "YES", pattern="yes", ignore_case=True) == 1.0
    assert value("regex", "", "yes sir", pattern="yes", full_match=True) == 0.0


def test_regex_takes_the_pattern_from_example_metadata_when_no_option():
    bound = build_scorer("regex", {})
    assert bound.score(ex("", pattern=r"^\d{4}$"), "2024").value == 1.0
    assert bound.score(ex("", pattern=r"^\d{4}$"), "24").value == 0.0


def test_regex_without_any_pattern_is_a_data_error_naming_the_example():
    with pytest.raises(DataError, match=r"example 'e1'.*metadata 'pattern'"):
        build_scorer("regex", {}).score(ex(""), "x")


def test_regex_with_an_invalid_pattern_is_a_config_error():
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        build_scorer("regex", {"pattern": "(unclosed"})


# json_valid / json_schema

SCHEMA = {
    "type": "object",
    "required": ["topic", "answer"],
    "properties": {"topic": {"type": "string"}, "answer": {"type": "string"}},
}


def test_json_valid_requires_the_whole_output_to_parse_unless_extract():
    assert value("json_valid", "", '{"a": 1}') == 1.0
    assert value("json_valid", "", "[1, 2]") == 1.0
    assert value("json_valid", "", 'Here: {"a": 1}') == 0.0
    assert value("json_valid", "", 'Here: {"a": 1}', extract=True) == 1.0
    assert value("json_valid", "", "Here: nothing", extract=True) == 0.0


def test_json_schema_accepts_a_conforming_output():
    assert value("json_schema", "", '{"topic": "geo", "answer": "Paris"}', schema=SCHEMA) == 1.0


def test_json_schema_explains_the_first_error_of_a_bad_output():
    bound = build_scorer("json_schema", {"schema": SCHEMA})
    score = bound.score(ex(""), '{"topic": 3, "answer": "Paris"}')
    assert score.value == 0.0
    assert score.explanation == "at $.topic: 3 is not of type 'string'"
    missing = bound.score(ex(""), '{"topic": "geo"}')
    assert missing.value == 0.0 and "'answer' is a required property" in missing.explanation
    assert bound.score(ex(""), "not json").explanation.startswith("not JSON")


def test_json_schema_reads_schema_file_relative_to_base_dir(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "qa.json").write_text(json.dumps(SCHEMA))
    bound = build_scorer(
        "json_schema", {"schema_file": "schemas/qa.json", "extract": True}, base_dir=tmp_path
    )
    assert bound.score(ex(""), 'Sure! {"topic": "geo", "answer": "x"}').value == 1.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of"),
        ({"schema": SCHEMA, "schema_file": "x.json"}, "exactly one of"),
        ({"schema": {"type": "no-such-type"}}, "schema is invalid"),
        ({"schema_file": "missing.json"}, "does not exist"),
    ],
)
def test_json_schema_rejects_bad_schema_options(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        build_scorer("json_schema", options, base_dir=tmp_path)


# token_f1 / rouge_l / bleu


def test_token_f1_matches_a_hand_computed_value():
    # tokens: [cat, sat, down] vs [cat, sat] -> precision 2/3, recall 1, f1 0.8
    assert value("token_f1", "a cat sat", "The cat sat down") == pytest.approx(0.8)
    assert value("token_f1", "cat", "dog") == 0.0


def test_token_f1_of_two_empty_answers_is_one_and_of_one_empty_is_zero():
    assert value("token_f1", "the", "") == 1.0  # both normalise to nothing
    assert value("token_f1", "Paris", "") == 0.0


def test_rouge_l_matches_a_hand_computed_lcs_f_measure():
    # LCS 3, precision 3/3, recall 3/6 -> F 2/3
    assert value("rouge_l", "the cat sat on the mat", "the cat sat") == pytest.approx(2 / 3)


@pytest.mark.parametrize("use_stemmer", [False, True])
@pytest.mark.parametrize(
    ("reference", "output"),
    [
        ("The quick brown fox jumps over the lazy dog", "A quick brown dog jumps over a fox"),
        ("cats are running fast", "the cat runs fast"),
        ("Paris is the capital of France", "France's capital city is Paris"),
    ],
)
def test_rouge_l_equals_rouge_score_library(reference, output, use_stemmer):
    expected = RougeScorer(["rougeL"], use_stemmer=use_stemmer).score(reference, output)
    got = value("rouge_l", reference, output, use_stemmer=use_stemmer)
    assert got == pytest.approx(expected["rougeL"].fmeasure)


_ROUGE_WORDS = st.sampled_from(["the", "The", "cat", "cät", "sat", "on", "a", "dog's", "x-1",
                                "42", "!!", "Über", "naïve", "", "hello,world", "\t", "日本"])


@given(st.lists(_ROUGE_WORDS, max_size=12).map(" ".join) | st.text(max_size=40),
       st.lists(_ROUGE_WORDS, max_size=12).map(" ".join) | st.text(max_size=40))
def test_rouge_l_without_stemming_is_rouge_score_to_the_last_bit(reference, output):
    """Computed in harness (rouge-score's import pulls in all of nltk), with the same value
    and explanation as the library's."""
    expected = RougeScorer(["rougeL"]).score(target=reference, prediction=output)["rougeL"]
    got = build_scorer("rouge_l").score(ex(reference), output)
    assert got.value == expected.fmeasure
    assert got.explanation == (f"precision {expected.precision:.2f}, "
                               f"recall {expected.recall:.2f}")


def test_bleu_of_an_identical_sentence_is_one():
    assert value("bleu", "the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("reference", "output"),
    [
        ("the cat sat on the mat", "the cat sat on mat"),
        ("The quick brown fox jumps over the lazy dog", "A quick brown dog jumps over a fox"),
        ("Paris", "London"),
    ],
)
def test_bleu_is_sacrebleu_sentence_bleu_divided_by_100(reference, output):
    expected = sacrebleu.sentence_bleu(output, [reference]).score / 100
    assert value("bleu", reference, output) == pytest.approx(expected)


def test_bleu_lowercase_option_matches_sacrebleu():
    expected = sacrebleu.sentence_bleu("THE CAT SAT", ["the cat sat"], lowercase=True).score / 100
    assert value("bleu", "the cat sat", "THE CAT SAT", lowercase=True) == pytest.approx(expected)
    assert value("bleu", "the cat sat", "THE CAT SAT") < expected


def test_bleu_refuses_tokenizers_that_would_download_models():
    with pytest.raises(ConfigError, match="option 'tokenize' must be one of"):
        build_scorer("bleu", {"tokenize": "spm"})


# label_accuracy

LABELS = ["geo", "math", "general"]


def test_label_extraction_prefers_an_exact_label_then_the_first_mention():
    extractor = LabelExtractor(LABELS)
    assert extractor.extract(" Math. ") == "math"
    assert extractor.extract("The topic is geo, not math.") == "geo"
    assert extractor.extract("Maths is hard") is None  # whole words only


def test_label_extraction_takes_the_longest_label_starting_at_the_same_place():
    assert LabelExtractor(["new", "new york"]).extract("I love New  York city") == "new york"


def test_label_accuracy_scores_the_extracted_label_against_the_reference():
    bound = build_scorer("label_accuracy", {"labels": LABELS})
    right = bound.score(ex("geo"), "I think it's GEO")
    wrong = bound.score(ex("geo"), "math, clearly")
    none = bound.score(ex("geo"), "no idea")
    assert (right.value, right.answer) == (1.0, "geo")
    assert (wrong.value, wrong.explanation) == (0.0, "predicted 'math', expected 'geo'")
    assert (none.value, none.explanation) == (0.0, "no label found in the output")


def test_label_accuracy_case_sensitive_option_refuses_other_case():
    bound = build_scorer("label_accuracy", {"labels": LABELS, "case_sensitive": True})
    assert bound.score(ex("geo"), "GEO").value == 0.0


def test_label_accuracy_reference_outside_labels_is_a_data_error():
    with pytest.raises(DataError, match="reference label 'history' is not one of"):
        build_scorer("label_accuracy", {"labels": LABELS}).score(ex("history"), "geo")


@pytest.mark.parametrize("labels", ["geo,math", [], ["geo", ""], None])
def test_label_accuracy_rejects_labels_that_are_not_a_list_of_strings(labels):
    with pytest.raises(ConfigError, match="option 'labels'"):
        build_scorer("label_accuracy", {"labels": labels})


# JSON extraction and the common `field` option

DEMO_REF = '{"topic": "geo", "answer": "Paris"}'


def test_first_json_object_skips_prose_fences_and_stray_braces():
    text = 'Use {braces} wisely.\n```json\n{"a": {"b": [1, 2]}, "c": "}"}\n```'
    assert first_json_object(text) == {"a": {"b": [1, 2]}, "c": "}"}
    assert first_json_object("[1, 2]") is None
    assert first_json_object("no json") is None


def test_field_option_compares_the_named_key_of_output_and_reference():
    bound = build_scorer("token_f1", {"field": "answer"})
    score = bound.score(ex(DEMO_REF), 'Sure: {"topic": "geo", "answer": "Paris, France"}')
    assert score.value == pytest.approx(2 * 0.5 * 1 / 1.5)  # [paris, france] vs [paris]
    assert score.answer == "Paris, France"


def test_field_option_drives_label_accuracy_on_the_topic_key():
    bound = build_scorer("label_accuracy", {"labels": LABELS, "field": "topic"})
    assert bound.score(ex(DEMO_REF), '{"topic": "Geo", "answer": "Rome"}').value == 1.0
    assert bound.score(ex(DEMO_REF), '{"topic": "math", "answer": "Paris"}').value == 0.0


def test_field_option_compares_non_string_values_as_json():
    assert value("exact_match", '{"n": [1, 2]}', '{"n": [1,2]}', field="n") == 1.0


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("exact_match", {}),
        ("normalized_exact_match", {}),
        ("contains", {}),
        ("regex", {"pattern": "."}),
        ("token_f1", {}),
        ("rouge_l", {}),
        ("bleu", {}),
        ("label_accuracy", {"labels": LABELS}),
    ],
)
def test_field_option_scores_non_json_output_at_the_minimum_with_a_reason(kind, options):
    bound = build_scorer(kind, {**options, "field": "topic"})
    score = bound.score(ex(DEMO_REF), "geo")
    assert score.value == bound.info.range[0]
    assert score.explanation == "output is not JSON with field topic"


def test_field_option_with_a_reference_lacking_the_field_is_a_data_error():
    with pytest.raises(DataError, match=r"example 'e1'.*reference is not JSON with field 'topc'"):
        build_scorer("token_f1", {"field": "topc"}).score(ex(DEMO_REF), DEMO_REF)


def test_field_option_must_be_a_string():
    with pytest.raises(ConfigError, match="option 'field'"):
        build_scorer("token_f1", {"field": 3})


# properties

words = st.lists(st.sampled_from(["the", "a", "cat", "Cat", "sat", "mat", "on", "!", "dog"]))
sentences = words.map(" ".join)


@given(sentences, sentences)
def test_token_f1_is_symmetric_and_within_zero_one(a, b):
    bound = build_scorer("token_f1", {})
    ab = bound.score(ex(b), a).value
    assert 0.0 <= ab <= 1.0
    assert ab == pytest.approx(bound.score(ex(a), b).value)


@given(sentences, sentences)
def test_exact_match_implies_normalized_match_implies_full_token_f1(output, reference):
    example = ex(reference)
    exact = build_scorer("exact_match", {}).score(example, output).value
    normalized = build_scorer("normalized_exact_match", {}).score(example, output).value
    f1 = build_scorer("token_f1", {}).score(example, output).value
    assert exact <= normalized
    if normalized == 1.0:
        assert f1 == 1.0


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)


@given(
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=4),
    st.text(alphabet=st.characters(blacklist_characters="{"), max_size=20),
)
def test_first_json_object_finds_an_object_after_any_brace_free_prose(obj, prose):
    assert first_json_object(prose + json.dumps(obj) + " trailing }") == obj


@given(st.sampled_from(LABELS), st.sampled_from(["", " ", ".", '"', "**"]), st.booleans())
def test_an_output_that_is_just_a_label_extracts_that_label(label, edge, upper):
    text = edge + (label.upper() if upper else label) + edge
    assert LabelExtractor(LABELS).extract(text) == label


def test_every_builtin_returns_a_score_within_its_range():
    outputs = ["", "Paris", '{"topic": "geo", "answer": "Paris"}', "{{{"]
    options = {"regex": {"pattern": "P"}, "label_accuracy": {"labels": LABELS},
               "json_schema": {"schema": SCHEMA}}
    kinds = ["exact_match", "normalized_exact_match", "contains", "regex", "json_valid",
             "json_schema", "token_f1", "rouge_l", "bleu", "label_accuracy"]
    for kind in kinds:
        bound = build_scorer(kind, options.get(kind, {}))
        lo, hi = bound.info.range
        for score in bound.score_batch([ex("geo")] * len(outputs), outputs):
            assert isinstance(score, Score) and lo <= score.value <= hi, (kind, score)
