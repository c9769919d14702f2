"""`harness compare BASELINE_RUN CURRENT_RUN`: did this re-tune regress anything?"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import console, handle_errors
from harness.cli.report import default_reports_dir


def _fraction(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from pydantic_core import PydanticCustomError

    from harness.spec.gates import parse_fraction

    if value is None:
        return None
    try:
        result = float(parse_fraction(value))
    except (ValueError, PydanticCustomError) as exc:
        raise click.BadParameter(f"expected 0.02 or '2 points', got {value!r}") from exc
    if not 0.0 <= result <= 1.0:
        raise click.BadParameter(f"expected 0..1 (a fraction of the scorer's range), got {value}")
    return result


@click.command()
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("current", type=click.Path(path_type=Path))
@click.option("--common-ids", is_flag=True,
              help="Compare the example ids both runs share even if the golden sets differ.")
@click.option("--max-drop", callback=_fraction, default=None,
              help="Largest tolerated drop per arm and scorer: 0.02 or '2 points' (default: "
                   "the suite's vs_baseline_run gates, else 0.02).")
@click.option("--reports-dir", type=click.Path(path_type=Path), default=None,
              help="Where the compare report goes (default: the suite's output.reports_dir).")
@handle_errors
def compare(baseline: Path, current: Path, common_ids: bool, max_drop: float | None,
            reports_dir: Path | None) -> None:
    """Per-scorer changes with paired intervals, pass/fail flips, and the regression gates.

    Exits 0 without a regression, 12 with one, 6 when the runs cannot be compared.
    """
    from harness.cli.finish import compare as compare_runs

    outcome = compare_runs(baseline, current, reports_dir=reports_dir or default_reports_dir(
        current), common_ids=common_ids, max_drop=max_drop, console=console)
    raise SystemExit(outcome.exit_code)


def register(group: click.Group) -> None:
    group.add_command(compare)
