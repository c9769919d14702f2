"""Peak memory and time of `harness run` on cached suites of 1,000 and 100,000 examples, side by
side in one run, through the real CLI (each run its own process).

    python bench/bench_scale.py [--sizes 1000,100000] [--repeats N] [--keep DIR]

Each suite is tests/scale_suite.py's synthetic one: two golden sets (90% tasks, 10% guard),
three prompt arms, three string scorers, three gates, every response already in the cache (so
nothing is generated: this measures the harness itself). For each size it prints wall time,
CPU time, peak RSS and CPU per request (a request = one example on one arm), then the ratios
of the largest size to the smallest: memory (the goal: within 1.5x, i.e. flat), time per
example against linear (goal: within 1.2x), and the same for the time beyond the fixed cost
of a run (imports, plots), which is what grows with the examples.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.scale_suite import make_scale_suite, run_measured  # noqa: E402

ARMS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000",
                        help="comma-separated example counts (default 1000,100000)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per size; the fastest is reported (default 1)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the suites in this folder and keep them")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rows = []
    try:
        for n in sizes:
            start = time.perf_counter()
            suite = make_scale_suite(root / f"n{n}", n)
            built = time.perf_counter() - start
            runs = [run_measured("run", str(suite), "--new-run") for _ in range(args.repeats)]
            for run in runs:
                if run.returncode not in (0, 10, 11):
                    sys.exit(f"harness run failed ({run.returncode}):\n{run.stdout[-3000:]}\n"
                             f"{run.stderr[-3000:]}")
            best = min(runs, key=lambda r: r.wall_s)
            rows.append((n, built, best, max(r.max_rss_mb for r in runs)))
            print(f"{n:>7} examples: suite built and cache filled in {built:.1f} s; runs "
                  + ", ".join(f"{r.wall_s:.1f} s wall / {r.cpu_s:.1f} s CPU / "
                              f"{r.max_rss_mb:.0f} MB" for r in runs), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"{'examples':>9} {'requests':>9} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} "
          f"{'CPU ms/request':>15}")
    for n, _, run, rss in rows:
        print(f"{n:>9,} {n * ARMS:>9,} {run.wall_s:>8.1f} {run.cpu_s:>8.1f} {rss:>12.0f} "
              f"{1000 * run.cpu_s / (n * ARMS):>15.3f}")
    if len(rows) < 2:
        return
    (n0, _, small, rss0), (n1, _, large, rss1) = rows[0], rows[-1]
    print()
    print(f"memory, {n1:,} vs {n0:,} examples: {rss1 / rss0:.2f}x (goal: within 1.5x)")
    for label, t0, t1 in (("wall", small.wall_s, large.wall_s),
                          ("CPU", small.cpu_s, large.cpu_s)):
        per_example = (t1 / n1) / (t0 / n0)
        # The cost of a run beyond its fixed part: the slope between the two sizes, against
        # the smaller run's own time per example once that fixed part is taken out.
        slope = (t1 - t0) / (n1 - n0)
        print(f"{label} time per example, {n1:,} vs {n0:,}: {per_example:.2f}x linear "
              f"(goal: within 1.2x); {1000 * slope:.3f} ms per further example, fixed part "
              f"about {t0 - slope * n0:.1f} s")
    print(f"harness CPU per request at {n1:,} examples: {1000 * large.cpu_s / (n1 * ARMS):.3f} ms "
          f"({large.cpu_s:.1f} s for {n1 * ARMS:,} requests, all from the cache)")


if __name__ == "__main__":
    main()
