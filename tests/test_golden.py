"""Golden sets: both JSONL formats, CSV, ids, hashes and the errors a user can make."""

from __future__ import annotations

import pytest

from harness.errors import DataError
from harness.golden import load_examples, load_golden_set
from tests.conftest import write_jsonl


def test_instruction_format_joins_instruction_and_input(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [
        {"id": "a", "instruction": "Translate to French.", "input": "cat", "output": "chat",
         "tags": ["translate"], "difficulty": "easy"},
    ])
    (example,) = load_examples(path)
    assert example.messages == ({"role": "user", "content": "Translate to French.\n\ncat"},)
    assert example.reference == "chat"
    assert example.tags == ("translate",)
    assert example.metadata == {"difficulty": "easy"}  # unknown keys are kept as metadata


def test_chat_format_takes_last_assistant_turn_as_reference(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"id": "c", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Capital of Spain?"},
        {"role": "assistant", "content": "Madrid"},
    ]}])
    (example,) = load_examples(path)
    assert example.reference == "Madrid"
    assert [m["role"] for m in example.messages] == ["system", "user", "assistant", "user"]
    assert example.user_text == "Capital of Spain?"


def test_csv_format_with_tags_split_on_semicolons(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("id,instruction,output,tags,source\nx1,Say hi,hi,a;b,web\n")
    (example,) = load_examples(path)
    assert (example.id, example.reference, example.tags) == ("x1", "hi", ("a", "b"))
    assert example.metadata == {"source": "web"}


def test_missing_ids_are_derived_from_content_and_stable(tmp_path):
    records = [{"instruction": "One?", "output": "1"}, {"instruction": "Two?", "output": "2"}]
    first = load_examples(write_jsonl(tmp_path / "a.jsonl", records))
    second = load_examples(write_jsonl(tmp_path / "b.jsonl", records))
    assert [e.id for e in first] == [e.id for e in second]
    assert all(e.id.startswith("h-") for e in first)
    assert first[0].id != first[1].id


def test_golden_set_hash_ignores_order_but_not_content(tmp_path):
    records = [{"id": "a", "instruction": "A?", "output": "a"},
               {"id": "b", "instruction": "B?", "output": "b"}]
    forward = load_golden_set(write_jsonl(tmp_path / "f.jsonl", records))
    backward = load_golden_set(write_jsonl(tmp_path / "r.jsonl", records[::-1]))
    changed = load_golden_set(write_jsonl(tmp_path / "c.jsonl",
                                          [records[0], {**records[1], "output": "B"}]))
    assert forward.content_hash == backward.content_hash
    assert forward.content_hash != changed.content_hash


def test_duplicate_inputs_are_reported_as_warnings(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [
        {"id": "a", "instruction": "What is  2+2?", "output": "4"},
        {"id": "b", "instruction": "what is 2+2", "output": "4"},
    ])
    golden = load_golden_set(path)
    assert len(golden.warnings) == 1 and "a and b" in golden.warnings[0]


def test_duplicate_ids_are_an_error_naming_them(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [
        {"id": "same", "instruction": "A?", "output": "a"},
        {"id": "same", "instruction": "B?", "output": "b"},
    ])
    with pytest.raises(DataError, match="duplicate example ids: same"):
        load_examples(path)


def test_malformed_line_is_reported_with_its_line_number(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"id": "a", "instruction": "A?", "output": "a"}\n\n{"id": "b", oops}\n')
    with pytest.raises(DataError, match=r"g\.jsonl:3: malformed JSON"):
        load_examples(path)


def test_record_without_a_known_format_says_what_was_expected(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"question": "A?", "answer": "a"}])
    with pytest.raises(DataError, match=r"g\.jsonl:1: expected a non-empty string 'instruction'"):
        load_examples(path)


def test_chat_record_must_end_with_the_assistant(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"messages": [
        {"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}])
    with pytest.raises(DataError, match="last message must be the assistant"):
        load_examples(path)


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_file_is_an_error(tmp_path, content):
    path = tmp_path / "g.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match="no examples"):
        load_examples(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_examples(tmp_path / "nope.jsonl")
