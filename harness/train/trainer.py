"""`train_adapter(job)`: the QLoRA trainer, from a validated TrainJob to a published adapter.

Order matters: everything that can fail on bad input (destination, model checks, data, leakage)
runs before the base model loads, so mistakes cost seconds, not a training run. Training uses
transformers' Trainer on our own pre-tokenised, completion-masked data (so the mask under test
is the one trained with), with checkpoints for --resume; the finished adapter is checked for
vLLM compatibility, given a manifest and a loss curve, and renamed into the store.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

from harness.adapters_io import VLLM_LORA_RANKS, adapter_content_hash, check_vllm_compatible
from harness.errors import ConfigError, ModelError
from harness.models import ResolvedModel, resolve_model
from harness.train import model as train_model
from harness.train.data import IGNORE_INDEX, PadCollator, prompt_key
from harness.train.job import TrainJob
from harness.train.leakage import exact_key
from harness.train.manifest import (
    LOSS_CURVE_FILE,
    MANIFEST_FORMAT,
    file_sha256,
    package_versions,
    publish,
    read_manifest,
    write_manifest,
)
from harness.train.plots import plot_loss
from harness.train.prepare import PreparedData, load_and_guard, tokenize_all
from harness.train.progress import RichProgressCallback, TokenMeter
from harness.types import stable_hash

RESUME_FILE = "harness_resume.json"


@dataclass
class TrainResult:
    adapter_dir: Path
    manifest: dict[str, Any]


def train_adapter(job: TrainJob, *, force: bool = False, resume: bool = False,
                  drop_overlaps: bool = False, console: Console | None = None,
                  show_progress: bool = True, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Train the adapter `job` describes and publish it to `job.adapter_dir`."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    resume_from = _check_destination(job, force=force, resume=resume)
    base = resolve_model(job.base_spec, job.base_dir)
    train_model.quiet_libraries()
    targets = train_model.check_target_modules(job.config, base.path)

    prepared = load_and_guard(job, drop_overlaps=drop_overlaps)
    tokenizer = train_model.load_tokenizer(base.path)
    train_model.check_vocabulary(tokenizer, base.path)
    prepared = tokenize_all(prepared, tokenizer, job)
    console.print(f"[bold]training adapter[/] {job.config.name} -> {job.adapter_dir}",
                  highlight=False)
    for line in prepared.summary():
        console.print(f"  {line}", highlight=False)

    _write_resume_state(job, prepared)
    meter = TokenMeter()
    progress = RichProgressCallback(meter, console=console, show=show_progress)
    trainer = _build_trainer(job, base, targets, tokenizer, prepared, meter,
                             [progress, *callbacks])
    console.print(f"  training on {train_model.device()}: {trainer.args.max_steps} steps"
                  + (f", resuming from {resume_from.name}" if resume_from else ""),
                  highlight=False)
    train_started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        progress.close()
    train_wall = time.perf_counter() - train_started
    final_eval = _final_eval_loss(trainer) if prepared.held_out else None

    manifest_args = dict(job=job, base=base, targets=targets, tokenizer=tokenizer,
                         prepared=prepared, trainer=trainer, meter=meter, train_wall=train_wall,
                         total_wall=time.perf_counter() - started, final_eval=final_eval,
                         resumed_from=_step_of(resume_from))
    adapter_dir = _save_and_publish(trainer, job, manifest_args)
    shutil.rmtree(job.checkpoint_dir, ignore_errors=True)  # done: nothing left to resume
    return TrainResult(adapter_dir, read_manifest(adapter_dir))


def _final_eval_loss(trainer: Any) -> float:
    """The held-out loss of the final weights; reuses the evaluation of the last step if any."""
    history = trainer.state.log_history
    last = next((h for h in reversed(history) if "eval_loss" in h), None)
    if last is not None and last["step"] == trainer.state.global_step:
        return last["eval_loss"]
    return trainer.evaluate()["eval_loss"]


def _check_destination(job: TrainJob, *, force: bool, resume: bool) -> Path | None:
    """Refuse to overwrite; find the checkpoint to resume from (or refuse to ignore one)."""
    if job.adapter_dir.exists() and not force:
        raise ConfigError(f"adapter {job.adapter_dir} already exists; pass --force to overwrite "
                          "it, or choose another train.name")
    last = last_checkpoint(job.checkpoint_dir)
    if resume:
        if last is None:
            raise ConfigError(f"nothing to resume: no checkpoint in {job.checkpoint_dir}")
        state_file = job.checkpoint_dir / RESUME_FILE
        saved = json.loads(state_file.read_text()) if state_file.is_file() else {}
        if saved.get("resume_key") != job.resume_key():
            raise ConfigError(f"the checkpoints in {job.checkpoint_dir} were made with a "
                              "different training config; --resume needs the same one (only "
                              "max_steps/epochs may change), or pass --force to start over")
        return last
    if last is not None:
        if not force:
            raise ConfigError(f"an interrupted training left checkpoints in "
                              f"{job.checkpoint_dir} ({last.name}): pass --resume to continue "
                              "it, or --force to start over")
        shutil.rmtree(job.checkpoint_dir)
    return None


def last_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    steps = [(_step_of(p), p) for p in folder.glob("checkpoint-*") if p.is_dir()]
    steps = [(s, p) for s, p in steps if s is not None and (p / "trainer_state.json").is_file()]
    return max(steps)[1] if steps else None


def _step_of(checkpoint: Path | None) -> int | None:
    if checkpoint is None:
        return None
    try:
        return int(checkpoint.name.rsplit("-", 1)[-1])
    except ValueError:
        return None


def _write_resume_state(job: TrainJob, prepared: PreparedData) -> None:
    job.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    state = {"resume_key": job.resume_key(), "data_sha256": prepared.data_sha256}
    (job.checkpoint_dir / RESUME_FILE).write_text(json.dumps(state, indent=2))


def _total_steps(job: TrainJob, n_train: int) -> int:
    config = job.config
    if config.max_steps is not None:
        return config.max_steps
    per_epoch = math.ceil(n_train / (config.batch_size * config.gradient_accumulation))
    return max(1, math.ceil((config.epochs or 1.0) * per_epoch))


def _build_trainer(job: TrainJob, base: ResolvedModel, targets: list[str], tokenizer: Any,
                   prepared: PreparedData, meter: TokenMeter, callbacks: list[Any]) -> Any:
    config = job.config
    set_seed(config.seed)  # LoRA initialisation is random too
    model = train_model.load_base(base.path, config)
    model = train_model.attach_lora(model, config, targets)
    total = _total_steps(job, len(prepared.train))
    on_gpu = train_model.device() == "cuda"
    args = TrainingArguments(
        output_dir=str(job.checkpoint_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        max_steps=config.max_steps if config.max_steps is not None else -1,
        num_train_epochs=config.epochs or 1.0,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps
        weight_decay=config.weight_decay,
        bf16=config.resolved_compute_dtype == "bfloat16",
        fp16=config.resolved_compute_dtype == "float16" and on_gpu,
        use_cpu=not on_gpu,
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        eval_strategy="steps" if prepared.held_out else "no",
        eval_steps=config.eval_steps or max(1, total // 4),
        eval_on_start=bool(prepared.held_out),  # the base's held-out loss: the curve's origin
        prediction_loss_only=True,
        # Batches of similar lengths waste less compute on padding.
        train_sampling_strategy="group_by_length",
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_gpu,
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else \
        tokenizer.eos_token_id
    trainer = _MeteredTrainer(
        model=model, args=args,
        train_dataset=[t.as_features() for t in prepared.train],
        eval_dataset=[t.as_features() for t in prepared.held_out] or None,
        data_collator=PadCollator(pad_id, pad_to_multiple_of=8 if on_gpu else None),
        processing_class=tokenizer, callbacks=callbacks)
    trainer.meter = meter
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; the bar shows them
    return trainer


def server_rank(r: int) -> int:
    """The smallest --max-lora-rank vLLM accepts that serves rank r."""
    return min(x for x in VLLM_LORA_RANKS if x >= r)


class _MeteredTrainer(Trainer):
    """Counts real tokens per batch, and computes logits only where the loss needs them."""

    meter: TokenMeter
    loss_is_scaled_for_ga = True  # compute_loss divides by the accumulated answer-token count

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.meter.add(int(inputs["attention_mask"].sum()))
        return super().training_step(model, inputs, num_items_in_batch)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # The output layer (vocabulary-sized) and its softmax cost ~20% of the compute and most
        # of the activation memory; prompt positions carry no loss, so skip their logits.
        causal_lm = self.accelerator.unwrap_model(model)
        if causal_lm is not model or not hasattr(causal_lm, "get_base_model"):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        causal_lm = causal_lm.get_base_model()
        targets = inputs["labels"][:, 1:]
        keep = targets != IGNORE_INDEX
        with self.accelerator.autocast():  # a submodule call bypasses the autocast wrapper
            hidden = causal_lm.get_decoder()(
                input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
            ).last_hidden_state
            logits = causal_lm.get_output_embeddings()(hidden[:, :-1][keep])
        loss = torch.nn.functional.cross_entropy(logits.float(), targets[keep], reduction="sum")
        if num_items_in_batch is not None:  # answer tokens over all accumulated micro-batches
            loss = loss / num_items_in_batch
        else:
            loss = loss / keep.sum().clamp(min=1)
            if model.training:
                loss = loss / self.current_gradient_accumulation_steps
        return (loss, {"loss": loss}) if return_outputs else loss


def _save_and_publish(trainer: Any, job: TrainJob, manifest_args: dict[str, Any]) -> Path:
    job.output_dir.mkdir(parents=True, exist_ok=True)
    staging = job.output_dir / f".staging-{job.config.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    trainer.model.save_pretrained(staging, safe_serialization=True, save_embedding_layers=False)
    (staging / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
    for f in staging.iterdir():  # safetensors writes 0600; a shared store must be readable
        f.chmod(0o644)
    problems = check_vllm_compatible(staging)
    if problems:
        raise ModelError(f"the trained adapter cannot be served by vLLM ({'; '.join(problems)}); "
                         f"it was left in {staging}")
    manifest = build_manifest(staging=staging, **manifest_args)
    plot_loss(manifest["loss_history"], manifest["eval_history"], staging / LOSS_CURVE_FILE,
              title=f"{job.config.name}: {job.config.quantization} LoRA r={job.config.lora.r}")
    write_manifest(staging, manifest)
    publish(staging, job.adapter_dir)
    return job.adapter_dir


def build_manifest(*, staging: Path, job: TrainJob, base: ResolvedModel, targets: list[str],
                   tokenizer: Any, prepared: PreparedData, trainer: Any, meter: TokenMeter,
                   train_wall: float, total_wall: float, final_eval: float | None,
                   resumed_from: int | None) -> dict[str, Any]:
    config = job.config
    history = trainer.state.log_history
    losses = [{"step": h["step"], "loss": h["loss"], "learning_rate": h.get("learning_rate")}
              for h in history if "loss" in h]
    evals = [{"step": h["step"], "eval_loss": h["eval_loss"]} for h in history
             if "eval_loss" in h]
    template = tokenizer.chat_template or ""
    train_examples = prepared.train_examples
    weights = staging / "adapter_model.safetensors"
    tail = [h["loss"] for h in losses[-5:]]
    return {
        "format": MANIFEST_FORMAT,
        "name": config.name,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base_model": {"spec": job.base_spec, "path": base.path, "identity": base.identity},
        "system_prompt": job.system_prompt,
        "rag_arm": job.rag_arm,  # trained on this RAG arm's prompts (passages included)
        "chat_template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(),
        "config_path": str(job.config_path),
        "suite": job.suite_name,
        "training_data": {
            "path": str(job.data_path),
            "file_sha256": prepared.data_sha256,
            # Order-independent, over what was actually trained on.
            "hash": stable_hash(sorted(e.content_hash() for e in train_examples)),
            "n_loaded": prepared.n_loaded,
            "n_train": len(prepared.train),
            "n_held_out": len(prepared.held_out),
            "train_tokens": prepared.n_train_tokens,
            "duplicates_dropped": [{"id": d, "duplicate_of": k} for d, k in prepared.duplicates],
            "overlength": {"max_length": config.max_length, "policy": config.overlength,
                           "over": len(prepared.length.over) if prepared.length else 0,
                           "dropped": prepared.length.dropped if prepared.length else [],
                           "truncated": prepared.length.truncated if prepared.length else []},
            "held_out_ids": [e.id for e in prepared.held_out_examples],
        },
        # Lets `harness run` warn when a golden set overlaps this adapter's training data, even
        # where the training data itself is not at hand.
        "example_hashes": {
            "prompt_normalized": sorted({prompt_key(e) for e in train_examples}),
            "prompt_exact": sorted({exact_key(e) for e in train_examples}),
            "content": sorted(e.content_hash() for e in train_examples),
        },
        "leakage_check": {
            "golden_sets": [{"name": g.name, "path": str(g.path), "hash": g.content_hash,
                             "n_examples": len(g.examples)} for g in prepared.golden_sets],
            "kinds": ["exact", "normalized"] + (["near"] if config.near_duplicates else []),
            "near_duplicate_threshold": (config.near_duplicate_threshold
                                         if config.near_duplicates else None),
            "overlaps_found": len(prepared.overlaps),
            "dropped": prepared.dropped_overlaps,
        },
        "config": config.model_dump(mode="json"),
        "lora": {"r": config.lora.r, "alpha": config.lora.alpha, "dropout": config.lora.dropout,
                 "target_modules": targets, "quantization": config.quantization},
        "training": {
            "steps": trainer.state.global_step,
            "epochs": trainer.state.epoch,
            "resumed_from_step": resumed_from,
            "device": train_model.device(),
            "compute_dtype": job.config.resolved_compute_dtype,
            "wall_time_s": round(train_wall, 2),
            "total_wall_time_s": round(total_wall, 2),
            "tokens": meter.tokens,
            "tokens_per_s": round(meter.tokens_per_s, 1),
            "s_per_step": round(meter.s_per_step, 3),
            "loss_first": losses[0]["loss"] if losses else None,
            "loss_last": losses[-1]["loss"] if losses else None,
            "loss_last_5_mean": sum(tail) / len(tail) if tail else None,
            "eval_loss": final_eval,
        },
        "loss_history": losses,
        "eval_history": evals,
        "package_versions": package_versions(),
        "weights": {"content_hash": adapter_content_hash(staging),
                    "adapter_model_sha256": file_sha256(weights)},
        "vllm": {"compatible": True, "max_lora_rank_needed": server_rank(config.lora.r)},
    }
