"""Shared fixtures: small real data, the real embedded model, suites written to tmp folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

# Before anything imports torch: OpenMP threads that busy-wait slow everything ~10x when the
# machine runs other jobs (see harness/cli/main.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent

CAPITALS = [
    ("What is the capital of France?", "Paris", "geo"),
    ("What is the capital of Italy?", "Rome", "geo"),
    ("What is 2 + 3?", "5", "math"),
    ("What colour is the sky on a clear day?", "blue", "general"),
]


@pytest.fixture(scope="session")
def default_model():
    from harness.models import resolve_model

    return resolve_model("default")


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def tiny_golden(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "golden" / "tiny.jsonl", [
        {"id": f"q{i}", "instruction": q, "input": "", "output": a, "tags": [tag]}
        for i, (q, a, tag) in enumerate(CAPITALS)
    ])


@pytest.fixture
def suite_factory(tmp_path: Path, tiny_golden: Path):
    """Write a small suite next to the golden set; keyword arguments override top-level fields."""

    def make(**overrides) -> Path:
        suite = {
            "name": "tiny",
            "golden_sets": [{"path": "golden/tiny.jsonl"}],
            "generation": {"max_tokens": 12},
            "arms": [{"name": "prompt", "kind": "prompt",
                      "system_prompt": "Answer in one or two words."}],
            "scorers": ["contains", "token_f1"],
            "output": {"runs_dir": "runs", "reports_dir": "reports"},
        }
        suite.update(overrides)
        path = tmp_path / "suite.yaml"
        path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
        return path

    return make
