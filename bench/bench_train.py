"""Training throughput of `harness train` against a plain transformers + peft loop, and the peak
memory of 4-bit (QLoRA) versus 16-bit LoRA training.

Same data (the demo training set, same system prompt, same chat template), same settings
(SmolLM2-135M, LoRA r=16 on every linear layer, batch 8, lr 2e-4, max length 256, bf16 compute):
  harness            train_adapter(): dynamic padding, length-grouped batches, answer-only loss
  plain              the tutorial loop: every example padded to max length, full-sequence loss,
                     prepare_model_for_kbit_training's default gradient checkpointing
  plain-no-ckpt      the same loop with gradient checkpointing off (where the rest comes from)
  harness-16bit      train_adapter() with quantization: none, for the memory comparison
Each method runs in its own process, so peak RSS (and peak CUDA memory on a GPU) is its own.
tok/s counts real tokens (never padding) the same way for every method; the plain loop's padded
tokens/s is shown too. The machine may be shared: compare ratios, and rerun when in doubt.

    .venv/bin/python bench/bench_train.py [--steps 12] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO / "suites" / "demo_data" / "train.jsonl"
GOLDEN = REPO / "golden_sets" / "transit_support.jsonl"
SYSTEM = ('You are the customer-support assistant of Lumen City Transit (LCT). Reply with '
          'exactly one line of JSON: {"topic": "<topic>", "answer": "<answer>"}')
SETTINGS = {"batch_size": 8, "max_length": 256, "r": 16, "alpha": 32, "lr": 2e-4}
METHODS = ["harness", "plain", "plain-no-ckpt", "harness-16bit"]


def peak_memory() -> dict[str, float]:
    import torch

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_harness(steps: int, quantization: str, threads: int | None) -> dict:
    import yaml

    from harness.train.job import load_train_job
    from harness.train.trainer import train_adapter

    folder = Path(tempfile.mkdtemp(prefix="bench-train-"))
    config = {"name": "bench", "data": str(DATA), "system_prompt": SYSTEM,
              "golden_sets": [{"path": str(GOLDEN)}], "quantization": quantization,
              "lora": {"r": SETTINGS["r"], "alpha": SETTINGS["alpha"]},
              "learning_rate": SETTINGS["lr"], "batch_size": SETTINGS["batch_size"],
              "max_length": SETTINGS["max_length"], "max_steps": steps, "save_steps": 10_000,
              "threads": threads, "output_dir": str(folder / "adapters")}
    (folder / "train.yaml").write_text(yaml.safe_dump(config))
    job = load_train_job(folder / "train.yaml")
    manifest = train_adapter(job, show_progress=False).manifest
    t = manifest["training"]
    result = {"s_per_step": t["s_per_step"], "tokens_per_s": t["tokens_per_s"],
              "padded_tokens_per_s": None, "loss_first": t["loss_first"],
              "loss_last": t["loss_last"], **peak_memory()}
    # What the frozen weights take, loaded the same way (smaller than the peak: RSS is unchanged).
    from harness.train.model import load_base

    result["weights_mb"] = load_base(manifest["base_model"]["path"],
                                     job.config).get_memory_footprint() / 2**20
    return result


def run_plain(steps: int, gradient_checkpointing: bool, threads: int | None) -> dict:
    """The loop a tutorial writes: fixed padding, labels = inputs, kbit-prep defaults."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from harness.golden import load_examples
    from harness.models import resolve_model
    from harness.train.model import quiet_libraries

    quiet_libraries()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    path = resolve_model("default").path
    tokenizer = AutoTokenizer.from_pretrained(path)
    texts = [tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, *e.messages[-1:],
         {"role": "assistant", "content": e.reference}], tokenize=False)
        for e in load_examples(DATA)]
    random.Random(0).shuffle(texts)
    on_gpu = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.bfloat16, device_map={"": 0} if on_gpu else None,
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16))
    model = prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=gradient_checkpointing)
    model = get_peft_model(model, LoraConfig(
        r=SETTINGS["r"], lora_alpha=SETTINGS["alpha"], lora_dropout=0.05,
        target_modules="all-linear", task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=SETTINGS["lr"])
    device = "cuda" if on_gpu else "cpu"
    bs, real, padded, losses = SETTINGS["batch_size"], 0, 0, []
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        chunk = texts[(step * bs) % len(texts):][:bs]
        batch = tokenizer(chunk, padding="max_length", truncation=True, return_tensors="pt",
                          max_length=SETTINGS["max_length"], add_special_tokens=False)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = model(**batch, labels=labels.to(device)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        real += int(batch["attention_mask"].sum())
        padded += batch["input_ids"].numel()
    elapsed = time.perf_counter() - start
    return {"s_per_step": elapsed / steps, "tokens_per_s": real / elapsed,
            "padded_tokens_per_s": padded / elapsed, "loss_first": losses[0],
            "loss_last": losses[-1], **peak_memory()}


def child(method: str, steps: int, threads: int | None) -> dict:
    if method == "harness":
        return run_harness(steps, "nf4", threads)
    if method == "harness-16bit":
        return run_harness(steps, "none", threads)
    return run_plain(steps, gradient_checkpointing=method == "plain", threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.steps, args.threads)), flush=True)
        return

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    results: dict[str, dict] = {}
    for method in args.methods.split(","):
        cmd = [sys.executable, __file__, "--child", method, "--steps", str(args.steps)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        print(f"running {method} ({args.steps} steps) ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            sys.exit(f"{method} failed:\n{proc.stderr[-3000:]}")
        results[method] = json.loads(lines[-1].removeprefix("RESULT "))

    print(f"\nSmolLM2-135M, LoRA r={SETTINGS['r']} all-linear, batch {SETTINGS['batch_size']}, "
          f"max length {SETTINGS['max_length']}, {args.steps} steps, threads "
          f"{args.threads or 'default'}\n")
    header = (f"{'method':<15}{'s/step':>8}{'tok/s':>9}{'padded tok/s':>14}{'loss 1st->last':>17}"
              f"{'peak RSS MB':>13}")
    print(header)
    for method, r in results.items():
        padded = f"{r['padded_tokens_per_s']:.0f}" if r["padded_tokens_per_s"] else "-"
        print(f"{method:<15}{r['s_per_step']:>8.2f}{r['tokens_per_s']:>9.0f}{padded:>14}"
              f"{r['loss_first']:>9.2f}->{r['loss_last']:<6.2f}{r['peak_rss_mb']:>13.0f}"
              + (f"  cuda {r['peak_cuda_mb']:.0f} MB" if "peak_cuda_mb" in r else ""))
    if "harness" in results and "plain" in results:
        h, p = results["harness"], results["plain"]
        print(f"\nharness vs plain: {p['s_per_step'] / h['s_per_step']:.1f}x faster per step, "
              f"{h['tokens_per_s'] / p['tokens_per_s']:.1f}x the real tokens/s (goal: >= 2x)")
    if "plain-no-ckpt" in results and "harness" in results:
        h, p = results["harness"], results["plain-no-ckpt"]
        print(f"harness vs plain-no-ckpt: {h['tokens_per_s'] / p['tokens_per_s']:.1f}x the "
              "real tokens/s (the part due to padding and batching alone)")
    if "harness" in results and "harness-16bit" in results:
        q, b = results["harness"], results["harness-16bit"]
        print(f"4-bit vs 16-bit: peak RSS {q['peak_rss_mb']:.0f} vs {b['peak_rss_mb']:.0f} MB; "
              f"frozen base weights {q['weights_mb']:.0f} vs {b['weights_mb']:.0f} MB"
              + (f"; peak CUDA {q['peak_cuda_mb']:.0f} vs {b['peak_cuda_mb']:.0f} MB"
                 if "peak_cuda_mb" in q else ""))
    if args.json:
        args.json.write_text(json.dumps({"settings": SETTINGS, "steps": args.steps,
                                         "threads": args.threads, "results": results}, indent=2))


if __name__ == "__main__":
    main()
