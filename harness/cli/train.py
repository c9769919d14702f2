"""`harness train CONFIG`: train the QLoRA adapter arm (a suite's train section or a train YAML)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli.common import console, err_console, handle_errors

if TYPE_CHECKING:
    from harness.train.job import TrainJob


@click.command()
@click.argument("config_file", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True,
              help="Overwrite an existing adapter of the same name; without --resume, also "
              "discard the checkpoints of an interrupted run.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted training from its last checkpoint.")
@click.option("--drop-overlaps", is_flag=True,
              help="Drop training examples that overlap a golden set instead of refusing.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Override the config's epochs/max_steps.")
@click.option("--if-missing", is_flag=True,
              help="Do nothing when the adapter already exists (used by `make demo`).")
@click.option("--dry-run", is_flag=True,
              help="Check config, data, lengths and the leakage guard; do not train.")
@handle_errors
def train(config_file: Path, force: bool, resume: bool, drop_overlaps: bool,
          max_steps: int | None, if_missing: bool, dry_run: bool) -> None:
    """Fine-tune a LoRA adapter (4-bit QLoRA by default) into adapters/<name>/.

    Refuses to train while any training example overlaps a golden set the suite names.
    """
    from harness.train.job import load_train_job

    job = load_train_job(config_file, max_steps=max_steps)
    if if_missing and (job.adapter_dir / "manifest.json").is_file():
        console.print(f"adapter {job.adapter_dir} exists; nothing to do", highlight=False)
        return
    if dry_run:
        _dry_run(job, drop_overlaps)
        return

    from harness.train.trainer import last_checkpoint, train_adapter

    try:
        result = train_adapter(job, force=force, resume=resume, drop_overlaps=drop_overlaps,
                               console=err_console)
    except KeyboardInterrupt:
        last = last_checkpoint(job.checkpoint_dir)
        where = (f"last checkpoint {last.name} in {job.checkpoint_dir}; run the same command "
                 "with --resume to continue" if last else "no checkpoint was written yet")
        err_console.print(f"[yellow]interrupted[/]: {where}", highlight=False, soft_wrap=True)
        sys.exit(130)
    _print_summary(result.adapter_dir, result.manifest)


def _dry_run(job: TrainJob, drop_overlaps: bool) -> None:
    from harness.models import resolve_model
    from harness.train import model as train_model
    from harness.train.prepare import load_and_guard, tokenize_all

    base = resolve_model(job.base_spec, job.base_dir)
    train_model.quiet_libraries()
    targets = train_model.check_target_modules(job.config, base.path)
    prepared = load_and_guard(job, drop_overlaps=drop_overlaps)
    prepared = tokenize_all(prepared, train_model.load_tokenizer(base.path), job)
    for line in prepared.summary():
        console.print(f"  {line}", highlight=False)
    console.print(f"  LoRA r={job.config.lora.r} on {', '.join(targets)}; "
                  f"{job.config.quantization}; ready to train into {job.adapter_dir}",
                  highlight=False)


def _print_summary(adapter_dir: Path, manifest: dict) -> None:
    t = manifest["training"]
    eval_part = f", held-out loss {t['eval_loss']:.3f}" if t.get("eval_loss") is not None else ""
    resumed = t.get("resumed_from_step")
    this_run = f" ({t['steps'] - resumed} after resuming at step {resumed})" if resumed else ""
    console.print(
        f"[green]adapter ready[/]: {adapter_dir}\n"
        f"  {t['steps']} steps{this_run} in {t['wall_time_s']:.0f} s ({t['s_per_step']:.2f} "
        f"s/step, {t['tokens_per_s']:.0f} tok/s on {t['device']})\n"
        f"  training loss {t['loss_first']:.3f} -> {t['loss_last']:.3f}{eval_part}\n"
        f"  weights {manifest['weights']['content_hash'][:12]}; vLLM-compatible "
        f"(serve with --max-lora-rank >= {manifest['vllm']['max_lora_rank_needed']})\n"
        f"  loss curve: {adapter_dir / 'loss_curve.png'}",
        highlight=False)


def register(group: click.Group) -> None:
    group.add_command(train)
