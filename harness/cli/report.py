"""`harness report RUN_DIR`: re-render a run's reports from its directory alone."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.common import console, handle_errors


def default_reports_dir(run_dir: Path) -> Path:
    """The suite's output.reports_dir (relative to the suite file), else ./reports."""
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return Path("reports")
    relative = ((manifest.get("suite") or {}).get("output") or {}).get("reports_dir")
    suite_path = manifest.get("suite_path")
    if not relative:
        return Path("reports")
    if Path(relative).is_absolute() or not suite_path:
        return Path(relative)
    return (Path(suite_path).parent / relative).resolve()


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--reports-dir", type=click.Path(path_type=Path), default=None,
              help="Where reports go (default: the suite's output.reports_dir).")
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="A previous run of the same suite to compare against (regression section).")
@click.option("--common-ids", is_flag=True,
              help="With --baseline: compare the example ids both runs share even if the "
                   "golden sets differ.")
@click.option("--gate", is_flag=True,
              help="Exit with the verdict's code (10 reject, 11 inconclusive, 12 regression) "
                   "instead of 0.")
@handle_errors
def report(run_dir: Path, reports_dir: Path | None, baseline: Path | None, common_ids: bool,
           gate: bool) -> None:
    """Write the markdown, JSON, JUnit and plot reports of RUN_DIR and print its summary."""
    from harness.cli.finish import finish_run

    outcome = finish_run(run_dir, reports_dir or default_reports_dir(run_dir),
                         baseline_dir=baseline, console=console, common_ids=common_ids)
    raise SystemExit(outcome.exit_code if gate else 0)


def register(group: click.Group) -> None:
    group.add_command(report)
