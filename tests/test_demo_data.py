"""The demo data: suites/demo_data/generate.py rebuilds the committed files from facts/*.yaml, and
the training set it writes passes the harness's own leakage guard against the golden sets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.golden import GoldenSet, load_examples, load_golden_set
from harness.train.leakage import find_overlaps
from harness.types import Example

REPO = Path(__file__).resolve().parent.parent
GENERATOR = REPO / "suites" / "demo_data" / "generate.py"
GOLDEN_SETS = ["golden_sets/transit_support.jsonl", "golden_sets/general_guard.jsonl"]
TRAIN = "suites/demo_data/train.jsonl"
KNOWLEDGE = "suites/demo_data/knowledge"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding everything the generator writes, built afresh (the repo is untouched)."""
    out = tmp_path_factory.mktemp("demo_data")
    run = subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return out


@pytest.fixture(scope="module")
def generated_train(generated: Path) -> list[Example]:
    """The generated training set, read as `harness train` reads its data (prepare.py)."""
    return load_examples(generated / TRAIN, fmt="auto", source="train")


@pytest.fixture(scope="module")
def generated_golden_sets(generated: Path) -> list[GoldenSet]:
    return [load_golden_set(generated / path) for path in GOLDEN_SETS]


def test_generator_rewrites_every_committed_file_byte_for_byte(generated: Path):
    produced = sorted(p.relative_to(generated).as_posix()
                      for p in generated.rglob("*") if p.is_file())
    committed_pages = [f"{KNOWLEDGE}/{p.name}" for p in (REPO / KNOWLEDGE).glob("*.md")]
    assert produced == sorted([*GOLDEN_SETS, TRAIN, *committed_pages])
    differing = [path for path in produced
                 if (generated / path).read_bytes() != (REPO / path).read_bytes()]
    assert differing == [], "run python suites/demo_data/generate.py and commit the result"


def test_generated_training_data_has_no_overlap_with_the_golden_sets_by_the_leakage_guard(
        generated_train: list[Example], generated_golden_sets: list[GoldenSet]):
    assert len(generated_train) == 400
    assert [len(g.examples) for g in generated_golden_sets] == [80, 30]
    overlaps = find_overlaps(generated_train, generated_golden_sets)  # exact and normalised
    assert [o.describe() for o in overlaps] == []


def test_leakage_guard_flags_a_golden_question_retyped_into_the_generated_training_data(
        generated_train: list[Example], generated_golden_sets: list[GoldenSet]):
    """The check above can fail: the guard reads these files' questions and compares them."""
    golden = generated_golden_sets[0].examples[0]
    retyped = Example(id="tr-copy", reference=golden.reference,
                      messages=({"role": "user", "content": golden.user_text.upper() + "!!"},))
    overlaps = find_overlaps([*generated_train, retyped], generated_golden_sets)
    assert [(o.train_id, o.golden_set, o.golden_id, o.kind) for o in overlaps] == [
        ("tr-copy", "transit_support", golden.id, "normalized")]
