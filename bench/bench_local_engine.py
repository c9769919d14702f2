"""Throughput of LocalEngine against plain transformers loops, side by side in one process.

Same prompts (chat-templated, varied lengths), same greedy decoding, same max_new_tokens:
  harness        LocalEngine.generate, batch 8 (length-bucketed, left padding)
  plain-batched  model.generate over the prompts in input order, batch 8, left padding
  one-at-a-time  model.generate per prompt
The methods are interleaved, with the order rotated each repeat, because the machine is shared:
read the ratios, not the absolute figures. tok/s counts generated tokens up to and including
eos (never the padding after it), the same way for every method.

    .venv/bin/python bench/bench_local_engine.py [--repeats 3] [--prompts 48] [--max-new 64]
                                                 [--threads N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# On a shared machine, OpenMP threads that spin-wait for a descheduled sibling make torch ~10x
# slower (measured: 5 vs 55 tok/s). Passive waiting avoids that; it must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.engines._transformers import LocalEngine  # noqa: E402
from harness.models import resolve_model  # noqa: E402
from harness.types import GenerationParams, Message, Request  # noqa: E402

GOLDEN = REPO / "golden_sets" / "transit_support.jsonl"
BUILTIN = [
    "What is the capital of France?", "Explain photosynthesis briefly.", "hi",
    "Give me three tips for a job interview.", "How do airplanes stay in the air?",
    "Write a haiku about autumn.", "What is a prime number?", "Summarise the water cycle.",
]
BATCH = 8


def conversations(n: int) -> list[tuple[Message, ...]]:
    """n conversations; every 4th one carries 0-3 retrieved-looking passages, so lengths vary."""
    if GOLDEN.is_file():
        from harness.golden import load_golden_set

        examples = load_golden_set(GOLDEN).examples
        questions = [e.user_text for e in examples]
        passages = [e.reference for e in examples]
    else:
        questions, passages = BUILTIN, BUILTIN
    convs = []
    for i in range(n):
        question = questions[i % len(questions)]
        k = i % 4
        context = [passages[(i + j + 1) % len(passages)] for j in range(k)]
        system = "Answer the rider's question using these notes:\n" + "\n".join(context)
        turns = ({"role": "system", "content": system},) if k else ()
        convs.append((*turns, {"role": "user", "content": question}))
    return convs


def useful_tokens(row: list[int], eos: int) -> int:
    return row.index(eos) + 1 if eos in row else len(row)


def plain_generate(model, prompts: list[list[int]], pad: int, max_new: int) -> list[list[int]]:
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new,
                             do_sample=False, pad_token_id=pad)
    return out[:, width:].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--max-new", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model_ref = resolve_model("default")
    engine = LocalEngine(model_ref, dtype="bfloat16", batch_size=BATCH)
    convs = conversations(args.prompts)
    params = GenerationParams(max_tokens=args.max_new)
    requests = [Request(messages=c, params=params) for c in convs]
    prompts = [engine.encode(c) for c in convs]
    engine.generate(requests[:BATCH])  # warm-up, and the engine's own peak RSS while generating
    rss_engine = peak_rss_mb()

    tokenizer = AutoTokenizer.from_pretrained(model_ref.path)
    plain = AutoModelForCausalLM.from_pretrained(model_ref.path, dtype=torch.bfloat16).eval()
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    lengths = sorted(len(p) for p in prompts)
    print(f"{len(prompts)} prompts, {lengths[0]}-{lengths[-1]} prompt tokens "
          f"(median {statistics.median(lengths)}), {args.max_new} new tokens, greedy, bf16, "
          f"batch {BATCH}, torch threads {torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")

    texts: dict[str, list[str]] = {}

    def run_harness() -> int:
        responses = engine.generate(requests)
        texts["harness"] = [r.text for r in responses]
        return sum(r.completion_tokens for r in responses)

    def run_batched() -> int:
        rows = []
        for start in range(0, len(prompts), BATCH):
            rows += plain_generate(plain, prompts[start : start + BATCH], pad, args.max_new)
        texts["plain-batched"] = [decode(tokenizer, r, eos) for r in rows]
        return sum(useful_tokens(r, eos) for r in rows)

    def run_single() -> int:
        rows = [plain_generate(plain, [p], pad, args.max_new)[0] for p in prompts]
        texts["one-at-a-time"] = [decode(tokenizer, r, eos) for r in rows]
        return sum(useful_tokens(r, eos) for r in rows)

    methods: dict[str, Callable[[], int]] = {
        "harness": run_harness, "plain-batched": run_batched, "one-at-a-time": run_single,
    }
    plain_generate(plain, prompts[:2], pad, 4)  # warm-up
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores: above ~1 is other work)")
    rates: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for rep in range(args.repeats):
        order = names[rep % 3 :] + names[: rep % 3]
        for name in order:
            started = time.perf_counter()
            tokens = methods[name]()
            seconds = time.perf_counter() - started
            rates[name].append(tokens / seconds)
            print(f"  repeat {rep + 1} {name:<14} {tokens:5d} tok {seconds:7.1f} s "
                  f"{tokens / seconds:7.1f} tok/s", flush=True)

    best = {name: max(r) for name, r in rates.items()}
    median = {name: statistics.median(r) for name, r in rates.items()}
    print("\n| method | tok/s (best) | tok/s (median) |\n|---|---|---|")
    for name in names:
        print(f"| {name} | {best[name]:.1f} | {median[name]:.1f} |")
    for other, goal in (("plain-batched", 0.9), ("one-at-a-time", 4.0)):
        ratio = median["harness"] / median[other]
        print(f"harness / {other}: {ratio:.2f}x (median), "
              f"{best['harness'] / best[other]:.2f}x (best); goal >= {goal}x")
    same = sum(a == b for a, b in zip(texts["harness"], texts["plain-batched"], strict=True))
    alone = sum(a == b for a, b in zip(texts["harness"], texts["one-at-a-time"], strict=True))
    print(f"identical texts (bf16): harness vs plain-batched {same}/{len(prompts)}, "
          f"harness vs one-at-a-time {alone}/{len(prompts)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"peak RSS: {rss_engine:.0f} MB with the engine alone (loaded, generating a batch), "
          f"{peak_rss_mb():.0f} MB at the end (with a second, plain copy of the model)")


def decode(tokenizer, row: list[int], eos: int) -> str:
    return tokenizer.decode(row[: useful_tokens(row, eos)], skip_special_tokens=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


if __name__ == "__main__":
    main()
