"""Entry points the CLI calls: finish a run, re-render a report, compare two runs.

Each loads run directories, evaluates them (pure), writes reports, prints a summary, and returns
an Outcome whose exit_code the command exits with (harness/decision/exit_codes.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from harness.decision.completeness import load_scored_run
from harness.decision.evaluate import evaluate, evaluate_compare
from harness.report.summary import compare_summary, run_summary


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    verdict: str  # APPROVE | REJECT | INCONCLUSIVE | NO GATES | REGRESSION | NO REGRESSION
    report_paths: list[Path] = field(default_factory=list)


def finish_run(run_dir: str | Path, reports_dir: str | Path,
               baseline_dir: str | Path | None = None, console: Console | None = None, *,
               common_ids: bool = False, max_drop: float | None = None) -> Outcome:
    """After generation and scoring: decide, write the reports, print the summary."""
    from harness.report import write_evaluation_reports

    run = load_scored_run(run_dir)
    baseline = load_scored_run(baseline_dir) if baseline_dir is not None else None
    ev = evaluate(run, baseline, common_ids=common_ids, max_drop=max_drop)
    paths = write_evaluation_reports(ev, Path(reports_dir))
    console = console or Console()
    console.print(run_summary(ev))
    console.print(f"report: {paths[0]}", highlight=False, soft_wrap=True)
    return Outcome(ev.verdict.exit_code, ev.verdict.decision, paths)


def compare(baseline_dir: str | Path, current_dir: str | Path, *,
            reports_dir: str | Path | None = None, common_ids: bool = False,
            max_drop: float | None = None, console: Console | None = None) -> Outcome:
    """`harness compare`: regression check of CURRENT against BASELINE (exit 12 on regression)."""
    from harness.report import write_compare_reports

    ce = evaluate_compare(load_scored_run(baseline_dir), load_scored_run(current_dir),
                          common_ids=common_ids, max_drop=max_drop)
    paths = write_compare_reports(ce, Path(reports_dir)) if reports_dir is not None else []
    console = console or Console()
    console.print(compare_summary(ce))
    if paths:
        console.print(f"report: {paths[0]}", highlight=False, soft_wrap=True)
    return Outcome(ce.exit_code, ce.decision, paths)
