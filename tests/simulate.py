"""Synthetic run directories with a known truth, written in the real format (harness.store).

The manifest is written in the older version-1 shape, so every test that uses these also
proves that run directories written before typed manifests stay readable.

Tests and benches use them to exercise reports, gates and compares without a model: each arm
has a true pass rate per binary scorer and a true mean for the continuous one, so what the
statistics should find is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.store import RunStore, stable_hash, write_json_atomic

TOPICS = ("fares", "passes", "schedules", "routes", "refunds")


@dataclass
class SimArm:
    name: str
    kind: str = "prompt"  # "prompt" | "tuned"
    quality: float = 0.7  # pass rate of binary scorers, mean of the continuous one
    guard_quality: float = 0.9
    prompt_tokens: int = 400
    completion_tokens: int = 40
    latency_s: float = 0.5


@dataclass
class SimRun:
    suite: str = "demo"
    run_id: str = "r1"
    n_tasks: int = 200
    n_guard: int = 40
    arms: list[SimArm] = field(default_factory=lambda: [
        SimArm("prompt", quality=0.6), SimArm("tuned", kind="tuned", quality=0.8,
                                                prompt_tokens=80)])
    gates: list[dict[str, Any]] = field(default_factory=list)
    cost: dict[str, Any] | None = None
    tie_margin: float = 0.05
    seed: int = 0
    status: str = "complete"
    golden_hash: str = "h-support"
    drop_fraction: float = 0.0  # share of scores left out (a partial run)


SCORERS = [
    {"name": "token_f1", "kind": "token_f1", "range": [0.0, 1.0], "higher_is_better": True,
     "binary": False, "primary": True, "golden_sets": ["support"]},
    {"name": "label_accuracy", "kind": "label_accuracy", "range": [0.0, 1.0],
     "higher_is_better": True, "binary": True, "primary": False, "golden_sets": ["support"]},
    {"name": "json_valid", "kind": "json_valid", "range": [0.0, 1.0], "higher_is_better": True,
     "binary": True, "primary": False, "golden_sets": ["support"]},
    {"name": "guard_contains", "kind": "contains", "range": [0.0, 1.0],
     "higher_is_better": True, "binary": True, "primary": False,
     "golden_sets": ["general_guard"]},
]


def write_run(root: Path, sim: SimRun) -> Path:
    """Write runs/<suite>/<run_id> under root; returns the run directory."""
    rng = np.random.default_rng(sim.seed)
    run_dir = root / sim.suite / sim.run_id
    store = RunStore(run_dir)
    ids = ([f"t{i:05d}" for i in range(sim.n_tasks)]
           + [f"g{i:05d}" for i in range(sim.n_guard)])
    sets = ["support"] * sim.n_tasks + ["general_guard"] * sim.n_guard
    examples = [{"id": i, "golden_set": s,
                 "tags": [TOPICS[k % len(TOPICS)], "hard" if k % 3 == 0 else "easy"]
                 if s == "support" else ["general"],
                 "reference": f'{{"topic": "{TOPICS[k % len(TOPICS)]}", "answer": "ref {i}"}}',
                 "prompt": f"question {i}?", "metadata": {}}
                for k, (i, s) in enumerate(zip(ids, sets, strict=True))]
    store.write_examples(examples)
    # A shared per-example difficulty makes arms' scores correlated, as on real data.
    difficulty = rng.normal(0.0, 0.15, len(ids))
    for arm in sim.arms:
        for k, (ex_id, golden) in enumerate(zip(ids, sets, strict=True)):
            store.responses.append({
                "arm": arm.name, "example_id": ex_id,
                "text": f'{{"topic": "{TOPICS[k % len(TOPICS)]}", "answer": "{arm.name} {k}"}}',
                "prompt_tokens": arm.prompt_tokens, "completion_tokens": arm.completion_tokens,
                "latency_s": float(arm.latency_s * (0.8 + 0.4 * rng.random())),
                "cached": bool(k % 4 == 0), "finish_reason": "stop",
                "request_key": stable_hash([arm.name, ex_id])})
            for scorer in SCORERS:
                if golden not in scorer["golden_sets"]:
                    continue
                if sim.drop_fraction and rng.random() < sim.drop_fraction:
                    continue
                q = arm.guard_quality if golden == "general_guard" else arm.quality
                p = float(np.clip(q - difficulty[k], 0.0, 1.0))
                value = (float(rng.random() < p) if scorer["binary"]
                         else float(np.clip(rng.beta(p * 8 + 0.1, (1 - p) * 8 + 0.1), 0, 1)))
                store.scores.append({"arm": arm.name, "example_id": ex_id,
                                     "scorer": scorer["name"], "value": value,
                                     "explanation": ""})
    store.close()
    suite = {"name": sim.suite, "description": "synthetic", "tie_margin": sim.tie_margin,
             "gates": sim.gates, "cost": sim.cost,
             "golden_sets": [{"path": "support.jsonl"},
                             {"path": "general_guard.jsonl", "guard": True}]}
    # A version-1 manifest, as harness wrote before typed manifests: read through migration.
    write_json_atomic(store.manifest_path, {
        "run_id": sim.run_id, "suite_name": sim.suite, "suite_path": "suite.yaml",
        "suite_hash": stable_hash(suite), "suite": suite,
        "golden_sets": [{"name": "support", "path": "support.jsonl", "hash": sim.golden_hash,
                         "n_examples": sim.n_tasks, "guard": False},
                        {"name": "general_guard", "path": "general_guard.jsonl",
                         "hash": "h-guard", "n_examples": sim.n_guard, "guard": True}],
        "model": {"spec": "default", "path": "/models/sim", "identity": "sim@1"},
        "engine": {"identity": {"kind": "sim"}},
        "arms": [{"name": a.name, "kind": a.kind} for a in sim.arms],
        "scorers": SCORERS, "primary_scorer": "token_f1", "seed": 0,
        "package_versions": {"harness": "0.1.0"}, "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": None if sim.status != "complete" else "2026-01-01T00:10:00+00:00",
        "status": sim.status, "counts": {}})
    return run_dir
