"""Speed of the decision statistics and memory/time of report rendering, on synthetic runs.

    .venv/bin/python bench/bench_stats.py [--examples 10000] [--arms 4] [--resamples 10000]

Prints figures; asserts nothing (goals: statistics under 2 s for 10,000 examples x 4 arms with
10,000 resamples; report rendering of a 10,000-example run measured for time and peak memory).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from harness.decision.analysis import analyse
from harness.decision.completeness import load_scored_run
from harness.report import write_reports
from tests.simulate import SimArm, SimRun, write_run


def best_of(repeats: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--arms", type=int, default=4)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    arms = [SimArm(f"arm{i}", kind="tuned" if i == args.arms - 1 else "prompt",
                   quality=0.5 + 0.08 * i) for i in range(args.arms)]
    gates = [{"type": "beats", "arm": arms[-1].name, "baseline": arms[-2].name},
             {"type": "not_worse", "arm": arms[-1].name, "baseline": "all", "max_drop": 0.02},
             {"type": "no_regression", "arm": arms[-1].name, "baseline": arms[0].name}]
    cost = {"input_per_million_tokens": 0.5, "output_per_million_tokens": 1.5,
            "training_cost": 50, "retune_every_days": 30}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        n_guard = max(1, args.examples // 20)
        run_dir = write_run(Path(tmp) / "runs", SimRun(
            suite="bench", run_id="big", n_tasks=args.examples - n_guard, n_guard=n_guard,
            arms=arms, gates=gates, cost=cost))
        print(f"wrote a synthetic run: {args.examples} examples x {args.arms} arms x 4 scorers "
              f"in {time.perf_counter() - start:.1f} s")
        run = load_scored_run(run_dir)
        print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")

        seconds, an = best_of(args.repeats, lambda: analyse(run, n_resamples=args.resamples))
        n_intervals = len(an.arm_scores) + len(an.wins) + len(an.diffs)
        print(f"full statistics: {seconds:.2f} s (best of {args.repeats}) for {n_intervals} "
              f"intervals over {len(an.scopes)} scopes, {args.resamples} resamples, all "
              f"{len(an.arms) * (len(an.arms) - 1) // 2} pairs x {len(an.scorers)} scorers "
              "(goal: < 2 s)")

        reports = Path(tmp) / "reports"
        render_s, paths = best_of(args.repeats, lambda: write_reports(run_dir, reports))
        # Memory on a separate pass: tracing allocations slows the code it measures.
        tracemalloc.start()
        write_reports(run_dir, reports)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in paths)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"report of a {args.examples}-example run: {render_s:.2f} s, best of "
              f"{args.repeats} (load + statistics + "
              f"markdown + plot + JSON + JUnit), peak traced memory {peak / 2**20:.0f} MiB, "
              f"process max RSS {rss:.0f} MiB")
        print(f"  files: {sizes}")


if __name__ == "__main__":
    main()
