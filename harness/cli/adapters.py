"""`harness adapters list|show|merge`: the adapter store (adapters/<name>/)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from harness.cli.common import console, handle_errors

STORE_OPTION = click.option(
    "--dir", "store", type=click.Path(path_type=Path), default=Path("adapters"),
    show_default=True, help="The adapter store.")


@click.group()
def adapters() -> None:
    """Inspect and merge trained LoRA adapters."""


@adapters.command("list")
@STORE_OPTION
@handle_errors
def list_(store: Path) -> None:
    """List the adapters in the store with base model, rank, data and loss."""
    from harness.adapters_io import check_vllm_compatible
    from harness.train.manifest import list_adapters

    entries = list_adapters(store)
    if not entries:
        console.print(f"no adapters in {store} (train one with `harness train SUITE`)",
                      highlight=False)
        return
    table = Table(title=f"adapters in {store}")
    for column in ("name", "base model", "rank", "quant", "examples", "steps", "loss",
                   "trained", "weights", "vLLM"):
        table.add_column(column)
    for e in entries:
        vllm = "yes" if not check_vllm_compatible(e.path) else "[red]no[/]"
        m = e.manifest
        if m is None:
            table.add_row(e.name, "?", "?", "?", "?", "?", "?", "(no manifest)", "?", vllm)
            continue
        t = m["training"]
        table.add_row(
            e.name, m["base_model"].get("identity", "?"), str(m["lora"]["r"]),
            m["lora"]["quantization"], str(m["training_data"]["n_train"]), str(t["steps"]),
            f"{t['loss_first']:.2f} -> {t['loss_last']:.2f}", m["created_at"][:16],
            m["weights"]["content_hash"][:12], vllm)
    console.print(table)


@adapters.command()
@click.argument("adapter")
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
@handle_errors
def show(adapter: str, store: Path, as_json: bool) -> None:
    """Show an adapter's manifest (ADAPTER: a name in the store or a folder)."""
    from harness.adapters_io import check_vllm_compatible
    from harness.train.manifest import read_manifest, resolve_adapter

    folder = resolve_adapter(adapter, store)
    m = read_manifest(folder)
    if as_json:
        click.echo(json.dumps(m, indent=2))
        return
    t, d = m["training"], m["training_data"]
    problems = check_vllm_compatible(folder)
    lines = [
        f"[bold]{m['name']}[/]  {folder}",
        f"base model     {m['base_model'].get('identity')}",
        f"system prompt  {m.get('system_prompt')!r}",
        f"LoRA           r={m['lora']['r']} alpha={m['lora']['alpha']} "
        f"{m['lora']['quantization']} on {', '.join(m['lora']['target_modules'])}",
        f"data           {d['path']} ({d['n_loaded']} loaded, {len(d['duplicates_dropped'])} "
        f"duplicates dropped, {d['n_train']} trained, {d['n_held_out']} held out)",
        f"leakage check  {', '.join(g['name'] for g in m['leakage_check']['golden_sets'])} "
        f"({m['leakage_check']['overlaps_found']} overlaps found, "
        f"{len(m['leakage_check']['dropped'])} dropped)",
        f"training       {t['steps']} steps, {t['wall_time_s']} s on {t['device']}, "
        f"{t['tokens_per_s']} tok/s, loss {t['loss_first']:.3f} -> {t['loss_last']:.3f}"
        + (f", held-out {t['eval_loss']:.3f}" if t.get("eval_loss") is not None else ""),
        f"weights        {m['weights']['content_hash']}",
        "vLLM           " + ("compatible" if not problems else "; ".join(problems)),
        f"created        {m['created_at']}",
    ]
    for line in lines:
        console.print(line, highlight=False)


@adapters.command()
@click.argument("adapter")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for the merged model.")
@click.option("--dtype", default="bfloat16", show_default=True,
              type=click.Choice(["bfloat16", "float16", "float32", "4bit"]),
              help="Precision of the base to merge into (4bit is refused: it corrupts output).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@STORE_OPTION
@handle_errors
def merge(adapter: str, out_dir: Path, dtype: str, force: bool, store: Path) -> None:
    """Merge an adapter into its 16-bit base model, as a plain Hugging Face folder."""
    from harness.train.manifest import resolve_adapter
    from harness.train.merge import merge_adapter

    folder = resolve_adapter(adapter, store)
    with console.status(f"merging {folder.name} into its base ({dtype})"):
        merged = merge_adapter(folder, out_dir, dtype=dtype, force=force)
    console.print(f"[green]merged[/]: {merged}", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(adapters)
