"""Data preparation: chat-template rendering, completion-only loss mask, dedupe, split, lengths."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from harness.cli.main import cli
from harness.errors import DataError
from harness.train.data import (
    IGNORE_INDEX,
    PadCollator,
    apply_length_policy,
    dedupe,
    split_held_out,
    tokenize,
    with_system_prompt,
)
from harness.types import Example

SYSTEM = "You are the Metro support assistant."


def example(i: int | str, question: str, answer: str = '{"topic": "x", "answer": "y"}',
            system: str | None = None) -> Example:
    turns = ([{"role": "system", "content": system}] if system else [])
    turns.append({"role": "user", "content": question})
    return Example(id=str(i), messages=tuple(turns), reference=answer)


@pytest.fixture(scope="module")
def tokenizer(default_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_model.path)


def test_loss_mask_ignores_every_prompt_token_and_keeps_the_answer(tokenizer):
    ex = with_system_prompt([example(1, "When does the Red line open?", '{"a": 1}')], SYSTEM)[0]
    item = tokenize(tokenizer, ex)
    prompt_ids = tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM},
         {"role": "user", "content": "When does the Red line open?"}],
        add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    n_prompt = len(prompt_ids)
    # The prompt is exactly what inference feeds the model, and none of it is learned.
    assert item.input_ids[:n_prompt] == list(prompt_ids)
    assert item.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    # Everything after it is learned: the answer and the end-of-turn marker.
    answer_labels = item.labels[n_prompt:]
    assert IGNORE_INDEX not in answer_labels
    assert answer_labels == item.input_ids[n_prompt:]
    assert tokenizer.decode(answer_labels) == '{"a": 1}<|im_end|>\n'


def test_multi_turn_chat_learns_only_the_final_answer(tokenizer):
    ex = Example(id="c", messages=(
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Fare to Docklands?"}), reference="3 credits")
    item = tokenize(tokenizer, ex)
    learned = [t for t in item.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(learned) == "3 credits<|im_end|>\n"


def test_system_prompt_is_given_to_every_example_replacing_their_own():
    examples = [example(1, "a?"), example(2, "b?", system="Old system prompt")]
    out = with_system_prompt(examples, SYSTEM)
    assert all(e.messages[0] == {"role": "system", "content": SYSTEM} for e in out)
    assert all(sum(m["role"] == "system" for m in e.messages) == 1 for e in out)


def test_dedupe_drops_normalised_duplicates_of_the_user_turn_and_reports_them():
    examples = [example("a", "When does the Red line open?"),
                example("b", "when does the red line OPEN"),  # case and punctuation differ
                example("c", "When does the Blue line open?"),
                example("d", "When  does the Red line open ?!", answer="different answer")]
    result = dedupe(examples)
    assert [e.id for e in result.kept] == ["a", "c"]
    assert result.dropped == [("b", "a"), ("d", "a")]


def test_held_out_split_is_seeded_disjoint_and_sized_by_fraction_or_count():
    examples = [example(i, f"question {i}") for i in range(20)]
    train, held = split_held_out(examples, 0.25, seed=3)
    assert len(held) == 5 and len(train) == 15
    assert not {e.id for e in train} & {e.id for e in held}
    assert split_held_out(examples, 0.25, seed=3) == (train, held)
    assert len(split_held_out(examples, 4, seed=0)[1]) == 4
    with pytest.raises(DataError, match="leaves no training examples"):
        split_held_out(examples, 20, seed=0)


def test_overlength_examples_are_refused_by_default_with_a_count(tokenizer):
    items = [tokenize(tokenizer, example(i, "word " * n)) for i, n in enumerate([5, 200, 300])]
    with pytest.raises(DataError) as err:
        apply_length_policy(items, 128, "error")
    assert "2 of 3 training examples are longer than max_length 128" in err.value.message


def test_overlength_drop_and_truncate_say_how_many(tokenizer):
    items = [tokenize(tokenizer, example(i, "word " * n, answer="yes " * 60))
             for i, n in enumerate([5, 40, 300])]
    kept, report = apply_length_policy(items, 100, "drop")
    assert [t.id for t in kept] == ["0"] and report.dropped == ["1", "2"]
    assert "2 dropped" in report.describe()
    kept, report = apply_length_policy(items, 100, "truncate")
    # "1" keeps part of its answer; "2" is all prompt at 100 tokens, so it is dropped anyway.
    assert [t.id for t in kept] == ["0", "1"] and report.truncated == ["1"]
    assert report.dropped == ["2"]
    assert all(len(t.input_ids) <= 100 for t in kept)
    assert "1 cut to 100 tokens" in report.describe()


def test_dynamic_padding_pads_to_the_longest_in_the_batch_and_masks_padding():
    collate = PadCollator(pad_token_id=0)
    batch = collate([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
                     {"input_ids": [8], "labels": [8]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert PadCollator(0, pad_to_multiple_of=8)(
        [{"input_ids": [1] * 9, "labels": [1] * 9}])["input_ids"].shape[1] == 16


def _train_yaml(tmp_path, data_text: str, **fields) -> str:
    (tmp_path / "train.jsonl").write_text(data_text)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "data": "train.jsonl", **fields}))
    return str(path)


def _error_line(result) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_cli_empty_training_file_exits_3_with_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["train", _train_yaml(tmp_path, "")])
    assert result.exit_code == 3
    assert "no examples (the file is empty)" in _error_line(result)


def test_cli_malformed_training_file_names_the_line(tmp_path):
    good = json.dumps({"instruction": "q", "output": "a"})
    result = CliRunner().invoke(cli, ["train", _train_yaml(tmp_path, good + "\n{oops\n")])
    assert result.exit_code == 3
    assert "train.jsonl:2: malformed JSON" in _error_line(result)


def test_cli_overlong_examples_exit_3_saying_how_many(tmp_path):
    rows = [json.dumps({"instruction": "q " * n, "output": "a"}) for n in (3, 400, 500)]
    result = CliRunner().invoke(cli, ["train", _train_yaml(tmp_path, "\n".join(rows),
                                                           max_length=64)])
    assert result.exit_code == 3
    assert "2 of 3 training examples are longer than max_length 64" in _error_line(result)


def test_cli_dry_run_reports_duplicates_and_what_would_train(tmp_path):
    rows = [json.dumps({"id": i, "instruction": q, "output": "a"})
            for i, q in enumerate(["Fare?", "fare", "Lost bag?"])]
    result = CliRunner().invoke(cli, ["train", _train_yaml(tmp_path, "\n".join(rows)),
                                      "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "1 duplicates dropped (same normalised user turn): 1" in result.output
    assert "2 training examples" in result.output
