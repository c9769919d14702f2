"""`harness run SUITE`: generate, score, decide, report."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import console, err_console, handle_errors
from harness.config import load_suite


@click.command()
@click.argument("suite_file", type=click.Path(path_type=Path))
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="A previous run directory to compare against (regression check).")
@click.option("--no-resume", is_flag=True,
              help="Start a new run even if the last run of this suite did not finish.")
@click.option("--limit", type=int, default=None,
              help="Use only the first N examples of each golden set (a quick look).")
@click.option("--reports-dir", type=click.Path(path_type=Path), default=None,
              help="Where reports go (default: the suite's output.reports_dir).")
@handle_errors
def run(suite_file: Path, baseline: Path | None, no_resume: bool, limit: int | None,
        reports_dir: Path | None) -> None:
    """Run every golden example through every arm, score, compare and report."""
    from harness.runner import run_suite

    suite = load_suite(suite_file)
    result = run_suite(suite, console=console, resume=not no_resume, limit=limit)
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    c = result.counts
    console.print(
        f"{'resumed' if result.resumed else 'run'} {result.run_dir}: "
        f"{c.get('responses', 0)} responses ({c.get('cached_responses', 0)} from cache, "
        f"{c.get('generated_responses', 0)} generated), {c.get('scores', 0)} scores",
        highlight=False,
    )
    from harness.decision.api import finish_run

    outcome = finish_run(result.run_dir, reports_dir or suite.resolve(suite.output.reports_dir),
                         baseline_dir=baseline, console=console)
    raise SystemExit(outcome.exit_code)


def register(group: click.Group) -> None:
    group.add_command(run)
