"""The leakage guard: training data that overlaps a golden set is refused before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.cli.main import cli
from harness.errors import LeakageError
from harness.golden import GoldenSet
from harness.train.job import load_train_job
from harness.train.leakage import find_overlaps, overlaps_with_manifest, refuse_on_overlap
from harness.train.prepare import load_and_guard
from harness.types import Example

GOLDEN = ["How much is a single fare from Central to Museum?",
          "Does Stadium station have step-free access?",
          "Can I take my bike on the Red line at rush hour?"]
TRAIN = ["When does the first Blue line train leave Market?",
         "Where is the lost property office at Old Town?",
         "How late does the Harbor line run on Sundays?"]


def ex(i: str, question: str) -> Example:
    return Example(id=i, messages=({"role": "user", "content": question},), reference="ok")


def golden_set() -> GoldenSet:
    return GoldenSet("transit", Path("g.jsonl"), [ex(f"g{i}", q) for i, q in enumerate(GOLDEN)])


def write_job(tmp_path: Path, train_questions: list[str], **fields) -> Path:
    rows = [{"id": f"t{i}", "instruction": q, "output": "ok"}
            for i, q in enumerate(train_questions)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    gold = [{"id": f"g{i}", "instruction": q, "output": "ok"} for i, q in enumerate(GOLDEN)]
    (tmp_path / "transit.jsonl").write_text("".join(json.dumps(r) + "\n" for r in gold))
    config = {"name": "x", "data": "train.jsonl", "golden_sets": [{"path": "transit.jsonl"}],
              **fields}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_disjoint_data_has_no_overlap():
    assert find_overlaps([ex(f"t{i}", q) for i, q in enumerate(TRAIN)], [golden_set()]) == []


def test_exact_and_normalised_copies_of_golden_questions_are_found():
    train = [ex("t0", TRAIN[0]), ex("t1", GOLDEN[0]),
             ex("t2", "does STADIUM station have step free access")]
    overlaps = find_overlaps(train, [golden_set()])
    assert [(o.train_id, o.golden_id, o.kind) for o in overlaps] == [
        ("t1", "g0", "exact"), ("t2", "g1", "normalized")]


def test_near_duplicates_are_found_only_when_asked():
    train = [ex("t0", "Can I bring my bicycle on the Red line during rush hour?")]
    assert find_overlaps(train, [golden_set()]) == []
    overlaps = find_overlaps(train, [golden_set()], near_threshold=0.8)
    assert [(o.train_id, o.golden_id, o.kind) for o in overlaps] == [("t0", "g2", "near")]
    assert overlaps[0].similarity >= 0.8


def test_refusal_lists_the_offending_ids_in_one_line():
    overlaps = find_overlaps([ex("t9", GOLDEN[2])], [golden_set()])
    with pytest.raises(LeakageError) as err:
        refuse_on_overlap(overlaps)
    message = err.value.message
    assert "\n" not in message
    assert "t9~transit:g2 (exact)" in message and "--drop-overlaps" in message


def test_planted_overlap_refuses_training(tmp_path):
    job = load_train_job(write_job(tmp_path, [*TRAIN, GOLDEN[1].upper()]))
    with pytest.raises(LeakageError, match="1 training examples overlap"):
        load_and_guard(job)


def test_drop_overlaps_removes_them_and_records_what_was_dropped(tmp_path):
    job = load_train_job(write_job(tmp_path, [*TRAIN, GOLDEN[1]], held_out=1))
    prepared = load_and_guard(job, drop_overlaps=True)
    assert prepared.dropped_overlaps == ["t3"]
    kept = {e.id for e in prepared.train_examples + prepared.held_out_examples}
    assert kept == {"t0", "t1", "t2"}


def test_manifest_hashes_reveal_overlap_with_a_golden_set_later():
    from harness.train.data import prompt_key

    manifest = {"example_hashes": {"prompt_normalized": [prompt_key(ex("t", GOLDEN[1]))]}}
    golden = golden_set().examples
    assert overlaps_with_manifest(manifest, golden) == ["g1"]
    assert overlaps_with_manifest({"example_hashes": {}}, golden) == []


def test_cli_planted_overlap_exits_7_with_one_line_naming_the_ids(tmp_path):
    result = CliRunner().invoke(cli, ["train", str(write_job(tmp_path, [*TRAIN, GOLDEN[0]]))])
    assert result.exit_code == 7
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "refusing to train" in lines[0] and "t3~transit:g0" in lines[0]
