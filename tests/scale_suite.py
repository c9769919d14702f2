"""A synthetic suite of any size with its response cache pre-filled: exercises everything a run
does but generation (golden-set loading, requests and cache keys, the cache, the run store,
string scorers, statistics, gates, reports, the Parquet export).

    make_scale_suite(folder, n)  ->  folder/suite.yaml, folder/golden/*.jsonl, folder/cache

Two golden sets (90% task examples, 10% a guard set), three prompt arms on the `scripted`
engine (`baseline`, `candidate`, `strong`), three string scorers (exact_match primary,
contains, token_f1) and gates that `candidate` clears: it beats `baseline` clearly, is not
worse than it, and does not regress on the guard set. The answers are drawn once per example
(seeded) and written straight into the response cache under the keys the runner computes, so
`harness run` finds every response cached and generates nothing (embedding 100,000 answers on
2 cores would take a quarter of an hour; string scorers take seconds).

`run_measured` runs a `harness` command in its own process and reports its wall time, CPU
time and peak resident memory. Used by tests/test_scale.py and bench/bench_scale.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

WORDS = ["amber", "birch", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "indigo",
         "juniper", "kelp", "lagoon", "marble", "nectar", "onyx", "pebble", "quartz", "raven",
         "saffron", "tundra", "umber", "violet", "willow", "xenon", "yarrow", "zephyr"]
TAGS = ["geo", "math", "science", "history", "code", "legal", "medical", "finance", "sport",
        "music", "food", "travel"]
# Probability that an arm answers exactly, answers with the reference inside a sentence, half
# answers, or is wrong (per golden set).
ACCURACY = {
    "baseline": {"tasks": (0.55, 0.10, 0.15), "guard": (0.70, 0.10, 0.10)},
    "candidate": {"tasks": (0.68, 0.10, 0.12), "guard": (0.70, 0.10, 0.10)},
    "strong": {"tasks": (0.72, 0.08, 0.10), "guard": (0.72, 0.08, 0.10)},
}


def suite_dict(n_tasks: int, n_guard: int) -> dict:
    return {
        "name": "scale",
        "description": f"Synthetic suite: {n_tasks + n_guard} examples, responses pre-cached.",
        "engine": {"kind": "scripted", "default": "I do not know.", "label": "synthetic"},
        "golden_sets": [{"name": "tasks", "path": "golden/tasks.jsonl"},
                        {"name": "guard", "path": "golden/guard.jsonl", "guard": True}],
        "generation": {"max_tokens": 16},
        "arms": [
            {"name": "baseline", "kind": "prompt", "system_prompt": "Answer briefly."},
            {"name": "candidate", "kind": "prompt",
             "system_prompt": "Answer with the code words only."},
            {"name": "strong", "kind": "prompt",
             "system_prompt": "You are precise. Answer with the code words only."},
        ],
        "scorers": ["exact_match", "contains", "token_f1"],
        "primary_scorer": "exact_match",
        "gates": [
            {"type": "beats", "arm": "candidate", "baseline": "baseline"},
            {"type": "not_worse", "arm": "candidate", "baseline": "baseline",
             "scorers": "all", "max_drop": "3 points"},
            {"type": "no_regression", "arm": "candidate", "baseline": "baseline",
             "golden_set": "guard", "max_drop": "5 points"},
        ],
        "output": {"runs_dir": "runs", "reports_dir": "reports", "cache": "cache/responses.db"},
    }


def _reference(i: int) -> str:
    return f"{WORDS[i % 26]} {WORDS[(i // 26) % 26]} {i % 1000}"


def write_golden(folder: Path, n_tasks: int, n_guard: int) -> None:
    (folder / "golden").mkdir(parents=True, exist_ok=True)
    for name, count, offset in (("tasks", n_tasks, 0), ("guard", n_guard, n_tasks)):
        with open(folder / "golden" / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for j in range(count):
                i = offset + j
                tags = [TAGS[i % len(TAGS)]] + ([TAGS[(i // 7) % len(TAGS)]] if i % 3 == 0
                                                else [])
                f.write(json.dumps({
                    "id": f"{name[0]}{j:06d}",
                    "instruction": f"Item {i}: which code words and number are filed under "
                                   f"record {i * 7919 % 1_000_003}?",
                    "output": _reference(i), "tags": sorted(set(tags))}) + "\n")


def _answer(draw: float, reference: str, probs: tuple[float, float, float]) -> str:
    exact, inside, half = probs
    if draw < exact:
        return reference
    if draw < exact + inside:
        return f"The code words are {reference}."
    if draw < exact + inside + half:
        return reference.split()[0] + " " + WORDS[(len(reference) * 7) % 26]
    return "I do not know."


def prefill_cache(suite_path: Path, *, seed: int = 0) -> int:
    """Put every (arm, example) response into the suite's response cache, under the key the
    runner will look up; returns how many were written."""
    from harness.arms.base import ArmContext
    from harness.golden import load_golden_set
    from harness.runner import resolve_engines
    from harness.spec.suite import load_suite
    from harness.store import ResponseCache
    from harness.types import Response

    suite = load_suite(suite_path)
    engines = resolve_engines(suite)
    ctx = ArmContext(suite, engines, None)
    arms = [ctx.arm(spec.name) for spec in suite.arms]
    rng = np.random.default_rng(seed)
    cache = ResponseCache(suite.cache_path())
    written = 0
    try:
        for spec, name in zip(suite.golden_sets, suite.golden_set_names, strict=True):
            gs = load_golden_set(suite.resolve(spec.path), name=name)
            draws = rng.random((len(arms), len(gs.examples)))
            for a, arm in enumerate(arms):
                identity = engines[arm.engine].identity
                probs = ACCURACY[arm.name][name]
                batch = []
                for e, ex in enumerate(gs.examples):
                    text = _answer(float(draws[a, e]), ex.reference, probs)
                    batch.append((ResponseCache.key(identity, arm.build(ex)),
                                  Response(text=text, prompt_tokens=24 + len(ex.user_text) // 5,
                                           completion_tokens=len(text.split()),
                                           latency_s=0.05 + 0.01 * (e % 7))))
                    if len(batch) >= 5000:
                        cache.put_many(batch)
                        written += len(batch)
                        batch = []
                cache.put_many(batch)
                written += len(batch)
    finally:
        cache.close()
    return written


def make_scale_suite(folder: Path, n: int, *, seed: int = 0, prefill: bool = True) -> Path:
    """Write a suite of n examples (90% tasks, 10% guard) into folder; with prefill, its
    response cache holds every answer. Returns the suite file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_guard = max(1, n // 10)
    n_tasks = n - n_guard
    write_golden(folder, n_tasks, n_guard)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite_dict(n_tasks, n_guard), sort_keys=False),
                    encoding="utf-8")
    if prefill:
        prefill_cache(path, seed=seed)
    return path


@dataclass(frozen=True)
class Measured:
    """A `harness` command run in its own process: exit code, output, and what it cost."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float  # user + system CPU of the harness process
    max_rss_mb: float  # its peak resident memory


# Runs the CLI in a fresh interpreter that writes its own peak RSS and CPU time on exit. The
# peak is VmHWM (this process's own memory); ru_maxrss can carry the parent's size over from
# the fork (a pytest process that loaded models is gigabytes).
_MEASURE = (
    "import atexit, json, resource, sys\n"
    "def _report(path=sys.argv[1]):\n"
    "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    peak = u.ru_maxrss\n"
    "    try:\n"
    "        with open('/proc/self/status') as f:\n"
    "            peak = next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))\n"
    "    except (OSError, StopIteration):\n"
    "        pass\n"
    "    with open(path, 'w') as f:\n"
    "        json.dump({'cpu_s': u.ru_utime + u.ru_stime, 'max_rss_kb': peak}, f)\n"
    "atexit.register(_report)\n"
    "from harness.cli.main import main\n"
    "sys.argv = ['harness', *sys.argv[2:]]\n"
    "main()\n")


def run_measured(*args: str, cwd: Path | None = None, timeout: float | None = None) -> Measured:
    """`harness ARGS...` in a subprocess, measured (wall time here, CPU and peak RSS there)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "usage.json"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _MEASURE, str(report), *args],
                              capture_output=True, text=True, cwd=cwd, timeout=timeout)
        wall = time.perf_counter() - start
        usage = json.loads(report.read_text()) if report.is_file() else {}
    return Measured(proc.returncode, proc.stdout, proc.stderr, wall,
                    float(usage.get("cpu_s", float("nan"))),
                    usage.get("max_rss_kb", 0) / 1024)
