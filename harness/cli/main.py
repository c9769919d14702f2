"""The `harness` command: a click group; each subcommand lives in its own module."""

from __future__ import annotations

import importlib
import os

import click

# torch's OpenMP threads busy-wait for each other by default; on a machine shared with other
# jobs that makes generation ~10x slower (measured on 2 cores). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Each module defines its click commands and a `register(group)` function that adds them.
COMMAND_MODULES = [
    "harness.cli.run",
    "harness.cli.suite",
    "harness.cli.index",
    "harness.cli.models",
    "harness.cli.report",
    "harness.cli.compare",
    "harness.cli.train",
    "harness.cli.adapters",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="harness")
def cli(debug: bool) -> None:
    """Evaluate whether a fine-tune is worth shipping: prompt vs RAG vs tuned, with evidence."""


for module_name in COMMAND_MODULES:
    importlib.import_module(module_name).register(cli)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
