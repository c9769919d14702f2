"""Benchmark model judges: throughput and the pairwise judge's position bias.

Prints:
1. judge throughput on an engine (judgements per second): the rubric judge's requests for N
   demo answers sent in one `generate` call (the engine batches them) versus one request per
   call, and the share of answers the parser could read;
2. the pairwise judge on the demo set: for each example, the reference answer against the
   reference answer of another example (so the right answer is known), judged in both orders:
   position consistency, first-position rate, tie rate, evaluator errors, and how often the
   judge picked the right answer in both orders.

Everything goes through the harness's own judges (harness/judges) and a fresh response cache,
so nothing is served from earlier runs.

Run: .venv/bin/python bench/bench_judges.py [--engine local|vllm] [--n 32] [--pairs 40]
     [--max-tokens 48] [--batch-size 16] [--constrained] [--one-at-a-time 8]
The vllm engine is a managed vLLM CPU server (.venv-vllm, ~1 minute to start).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from harness.judges._client import JudgeEngines  # noqa: E402
from harness.judges._pairwise import PairTask  # noqa: E402
from harness.runner import build_judges, judge_key, resolve_engines  # noqa: E402
from harness.scoring.extract import field_text  # noqa: E402
from harness.spec.suite import load_suite  # noqa: E402
from harness.store import ResponseCache  # noqa: E402
from harness.types import Example, Response, Sample  # noqa: E402

GOLDEN = REPO / "golden_sets" / "transit_support.jsonl"


def demo_examples() -> list[tuple[str, str]]:
    """(question, reference answer) of the demo's task set."""
    rows = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]
    return [(r["instruction"], field_text(r["output"], "answer") or r["output"]) for r in rows]


def bench_suite(folder: Path, engine: dict, max_tokens: int, constrained: bool) -> Path:
    judge = {"max_tokens": max_tokens, "constrained": constrained}
    suite = {"name": "bench-judges", "golden_sets": [{"path": str(GOLDEN)}],
             "engine": engine, "arms": [{"name": "a", "kind": "prompt"},
                                        {"name": "b", "kind": "prompt"}],
             "scorers": ["exact_match"],
             "judges": {"rubric": {"kind": "rubric", **judge},
                        "pairwise": {"kind": "pairwise", "pairs": [["a", "b"]], **judge}},
             "output": {"runs_dir": str(folder / "runs"), "cache": str(folder / "cache.sqlite")}}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def samples(examples: list[tuple[str, str]]) -> list[Sample]:
    return [Sample(Example(f"e{i}", ({"role": "user", "content": q},), a), Response(a))
            for i, (q, a) in enumerate(examples)]


def throughput(suite, engines, client: JudgeEngines, n: int, one_at_a_time: int) -> None:
    """Distinct answers for each mode, so neither is served from the other's cache."""
    examples = demo_examples()
    judge = build_judges(suite)["rubric"]
    judge.bind(client)
    judge.score_samples(samples(examples[-1:]))  # load the model / start the server
    for label, batched, chosen in (("batched", True, samples(examples[:n])),
                                   ("one at a time", False,
                                    samples(examples[n:n + one_at_a_time]))):
        started = time.perf_counter()
        if batched:
            scores = judge.score_samples(chosen)
        else:
            scores = [judge.score_samples([s])[0] for s in chosen]
        wall = time.perf_counter() - started
        read = sum(not s.failed for s in scores)
        values = sorted({s.value for s in scores if not s.failed})
        print(f"rubric judge, {label}: {len(chosen)} judgements in {wall:.1f} s = "
              f"{len(chosen) / wall:.2f} judgements/s; parsed {read}/{len(chosen)}; "
              f"scores seen {values}", flush=True)
        first_error = next((s.error for s in scores if s.failed), None)
        if first_error:
            print(f"  first evaluator error: {first_error[:160]}", flush=True)


def position_bias(suite, engines, client: JudgeEngines, n_pairs: int) -> None:
    examples = demo_examples()
    n = min(n_pairs, len(examples))
    tasks = []
    for i in range(n):
        question, right = examples[i]
        wrong = examples[(i + 7) % len(examples)][1]  # another question's answer
        tasks.append(PairTask(f"demo/e{i}", f"e{i}", "demo", "right", "wrong", question, "",
                              right, wrong))
    judge = build_judges(suite)["pairwise"]
    judge.bind(client)
    started = time.perf_counter()
    lines = judge.judge(tasks, judge_key(judge, engines))
    wall = time.perf_counter() - started
    judged = [r for r in lines if not r["error"]]
    verdicts = [o["verdict"] for r in judged for o in r["orders"]]
    first, second = verdicts.count("A"), verdicts.count("B")
    consistent = sum(bool(r["consistent"]) for r in judged)
    right = sum(r["outcome"] == 1 for r in judged)
    print(f"pairwise judge on {n} demo pairs (right answer vs another question's answer), "
          f"{2 * n} requests in {wall:.1f} s = {2 * n / wall:.2f} verdicts/s:", flush=True)
    print(f"  evaluator errors {len(lines) - len(judged)}/{n}; of the {len(judged)} pairs read: "
          f"position consistency {consistent}/{len(judged)} = "
          f"{consistent / max(len(judged), 1):.2f}; first-position rate {first}/"
          f"{first + second} = {first / max(first + second, 1):.2f}; tie verdicts "
          f"{verdicts.count('tie')}/{len(verdicts)}; right answer preferred in both orders "
          f"{right}/{len(judged)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["local", "vllm"], default="local")
    parser.add_argument("--n", type=int, default=32, help="rubric judgements, batched")
    parser.add_argument("--one-at-a-time", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--constrained", action="store_true",
                        help="constrain the judge's output to its JSON verdict")
    parser.add_argument("--skip-bias", action="store_true")
    args = parser.parse_args()
    engine = ({"kind": "local", "batch_size": args.batch_size} if args.engine == "local"
              else {"kind": "vllm", "max_model_len": 2048})
    with tempfile.TemporaryDirectory() as tmp:
        suite = load_suite(bench_suite(Path(tmp), engine, args.max_tokens, args.constrained))
        engines = resolve_engines(suite)
        print(f"engine {args.engine} ({engines['default'].model_label}), max_tokens "
              f"{args.max_tokens}, constrained {args.constrained}", flush=True)
        cache = ResponseCache(Path(tmp) / "fresh-cache.sqlite")  # nothing from earlier runs
        client = JudgeEngines(suite, engines, cache)  # one engine (one server) for everything
        try:
            throughput(suite, engines, client, args.n, args.one_at_a_time)
            if not args.skip_bias:
                position_bias(suite, engines, client, args.pairs)
        finally:
            client.close()
            cache.close()


if __name__ == "__main__":
    main()
