"""`harness run SUITE`: generate, score, decide, report."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import console, err_console, handle_errors
from harness.spec.suite import load_suite


@click.command()
@click.argument("suite_file", type=click.Path(path_type=Path))
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="A previous run directory to compare against (regression check).")
@click.option("--no-resume", is_flag=True,
              help="Start a new run even if the last run of this suite did not finish.")
@click.option("--new-run", is_flag=True,
              help="Always take a new run directory (e.g. while another run of the suite is "
              "still going); the response cache is shared.")
@click.option("--limit", type=int, default=None,
              help="Use only the first N examples of each golden set (a quick look).")
@click.option("--max-cost", type=float, default=None,
              help="Stop generating once priced arms have spent this much (the suite's "
              "currency); what was generated is kept (exit 8).")
@click.option("--reports-dir", type=click.Path(path_type=Path), default=None,
              help="Where reports go (default: the suite's output.reports_dir).")
@handle_errors
def run(suite_file: Path, baseline: Path | None, no_resume: bool, new_run: bool,
        limit: int | None, max_cost: float | None, reports_dir: Path | None) -> None:
    """Run every golden example through every arm, score, compare and report."""
    from harness import preload
    from harness.runner import run_suite

    suite = load_suite(suite_file)  # validation first, before anything else is imported
    if max_cost is not None and max_cost < 0:
        raise click.BadParameter("must be at least 0", param_hint="--max-cost")
    preload.arm()  # imports the end of the run while the engines generate
    try:
        result = run_suite(suite, console=console, resume=not no_resume, limit=limit,
                           new_run=new_run, max_cost=max_cost)
    except BaseException:
        preload.cancel()
        raise
    preload.finish()
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    c = result.counts
    console.print(
        f"{'resumed' if result.resumed else 'run'} {result.run_dir}: "
        f"{c.get('responses', 0)} responses ({c.get('cached_responses', 0)} from cache, "
        f"{c.get('generated_responses', 0)} generated), {c.get('scores', 0)} scores",
        highlight=False,
    )
    from harness.cli.finish import finish_run

    outcome = finish_run(result.run_dir, reports_dir or suite.resolve(suite.output.reports_dir),
                         baseline_dir=baseline, console=console)
    raise SystemExit(outcome.exit_code)


def register(group: click.Group) -> None:
    group.add_command(run)
