"""Cold run versus cached re-run of a suite, through the real CLI, side by side in one run.

    python bench/bench_cache.py [--suite suites/demo.yaml] [--limit N]

Copies the suite into a temporary folder with its own runs/, reports/ and cache (so the cold run
really is cold), runs `harness run` twice and prints wall time, peak RSS and the ratio. The
issue's goal: the cached re-run at least 50x faster than the cold run.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
HARNESS = [sys.executable, "-m", "harness"]


def relocated_suite(suite_path: Path, workdir: Path) -> Path:
    """The same suite, with every input path made absolute and every output in workdir."""
    data = yaml.safe_load(suite_path.read_text())
    base = suite_path.parent.resolve()
    for golden in data["golden_sets"]:
        golden["path"] = str((base / golden["path"]).resolve())
    for arm in data["arms"]:
        for key in ("adapter", "system_prompt_file", "few_shot_file"):
            if key in arm:
                arm[key] = str((base / arm[key]).resolve())
        schema_file = (arm.get("response_format") or {}).get("json_schema_file")
        if schema_file:
            arm["response_format"]["json_schema_file"] = str((base / schema_file).resolve())
    for corpus in (data.get("corpora") or {}).values():
        corpus["path"] = str((base / corpus["path"]).resolve())
        corpus["index_dir"] = str(workdir / "index")  # cold: its own index too
    data["output"] = {"runs_dir": str(workdir / "runs"), "reports_dir": str(workdir / "reports")}
    target = workdir / suite_path.name
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def timed_run(suite: Path, limit: int | None) -> tuple[float, int]:
    command = [*HARNESS, "run", str(suite)] + (["--limit", str(limit)] if limit else [])
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 10, 11, 12):
        sys.exit(f"harness run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=REPO / "suites" / "demo.yaml")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        suite = relocated_suite(args.suite.resolve(), workdir)
        cold, code = timed_run(suite, args.limit)
        # ru_maxrss of children: the largest child so far, i.e. the cold run (KiB on Linux).
        cold_rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        warm, _ = timed_run(suite, args.limit)
        print(f"suite: {args.suite} (limit={args.limit}), verdict exit code {code}")
        print(f"{'run':<16}{'wall s':>10}")
        print(f"{'cold':<16}{cold:>10.2f}")
        print(f"{'cached re-run':<16}{warm:>10.2f}")
        print(f"cached re-run speed-up: {cold / warm:.1f}x (goal >= 50x)")
        print(f"peak RSS of the cold run: {cold_rss_mib:.0f} MiB")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
