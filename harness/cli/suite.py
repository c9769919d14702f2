"""`harness validate SUITE` and `harness schema`: check a suite without running it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.common import console, err_console, handle_errors
from harness.spec.suite import load_suite, suite_json_schema


@click.command()
@click.argument("suite_file", type=click.Path(path_type=Path))
@handle_errors
def validate(suite_file: Path) -> None:
    """Check a suite file (schema, files it names, scorers, gates) without running anything."""
    from harness.decision.gates import describe
    from harness.decision.ladder import template_title
    from harness.decision.power import suite_resolutions
    from harness.golden import load_golden_set

    suite = load_suite(suite_file)
    sizes, guards = {}, {}
    for spec, name in zip(suite.golden_sets, suite.golden_set_names, strict=True):
        golden = load_golden_set(suite.resolve(spec.path), name=name, fmt=spec.format,
                                 columns=spec.columns, limit=spec.limit)
        for warning in golden.warnings:
            err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
        console.print(f"golden set {name}: {len(golden.examples)} examples", highlight=False)
        sizes[name], guards[name] = len(golden.examples), spec.guard
    for res in suite_resolutions(suite.gates, sizes, guards):
        gate = suite.gates[res.gate]
        title = template_title(gate, None) if suite.ladder else gate.name or describe(gate, None)
        console.print(f"gate {res.gate + 1} ({title}): "
                      f"{res.sentence}", highlight=False, soft_wrap=True)
    arms = ", ".join(f"{a.name} ({a.kind}" + (f" on {a.engine})" if a.engine else ")")
                     for a in suite.arms)
    console.print(f"[green]ok[/] {suite_file}: suite '{suite.name}', arms: {arms}; "
                  f"primary scorer: {suite.primary}", highlight=False)
    if suite.judges:
        from harness.spec.judge import judge_pairs

        names = [a.name for a in suite.arms]
        described = []
        for name, judge in suite.judges.items():
            where = f"{judge.kind} on {', '.join(judge.engine_names())}"
            if judge.pairwise:
                pairs = judge_pairs(judge, name, suite.gates, names, suite.ladder)
                where += ": " + ", ".join(f"{a} vs {b}" for a, b in pairs)
            described.append(f"{name} ({where})")
        console.print(f"judges: {'; '.join(described)}", highlight=False, soft_wrap=True)
    if suite.ladder:
        console.print(f"ladder: {' → '.join(suite.ladder)} (the cheapest rung that clears "
                      "every gate is shipped)", highlight=False, markup=False)


@click.command()
def schema() -> None:
    """Print the JSON Schema of suite files (for editor completion)."""
    click.echo(json.dumps(suite_json_schema(), indent=2))


def register(group: click.Group) -> None:
    group.add_command(validate)
    group.add_command(schema)
