"""Where the local engine's decode time goes, and what each speed-up of its own loop buys.

The demo's real requests (suites/demo.yaml: system prompt + 3 few-shot turns, max_tokens 72,
batch 16), run side by side in one process through one LocalEngine:
  generate      the old path: model.generate per planned batch (length-bucketed, left padding)
  prefix        own loop, the batch's shared prefix computed once; rows stay until the batch ends
  drop          own loop, finished rows leave the batch (no prefix reuse, no refill)
  drop+refill   own loop, finished rows leave and waiting rows take their places
  both-unsplit  prefix reuse + drop + refill, rows admitted together in one padded pass
  both          the same, greedy rows admitted together in parts of similar length
  both+shared   the same, a prefix the rows share kept once and attended to at batch 1
                instead of copied into every row (harness/engines/_shared_prefix.py): the
                engine's default on a CPU
  both+merged   (--merge, arms with an adapter) the same, the adapter's LoRA weights merged into
                the base while its rows decode (harness/engines/_lora_merge.py): the engine's
                default on a CPU. Every other method runs the adapter unmerged.
  The engine's default on a CPU is both+shared with adapters merged.
  transformers-cb  (--with-cb) transformers' continuous batching, model.generate_batch
The methods are interleaved, the order rotated each repeat, because the machine is shared:
read the ratios. tok/s counts generated tokens up to and with eos. CPU s is this process's CPU
time (less swayed than wall time by other jobs on the machine). "model tokens" is what went
through the model (prompt and padding columns, plus one per decode step and row) and "passes"
the forward calls: measures of work that do not depend on the machine's load.

    .venv/bin/python bench/bench_local_decode.py [--arms prompt] [--n 48] [--repeats 1]
                                                  [--batch 16] [--with-cb] [--methods both]
                                                  [--merge]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_local_engine.py
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.engines._decode import DecodeOptions  # noqa: E402
from harness.engines._transformers import LocalEngine  # noqa: E402
from harness.types import Request  # noqa: E402

SUITE = REPO / "suites" / "demo.yaml"
OWN = {
    "prefix": DecodeOptions(share_prefix=True, drop_finished=False, refill=False),
    "drop": DecodeOptions(share_prefix=False, drop_finished=True, refill=False),
    "drop+refill": DecodeOptions(share_prefix=False, drop_finished=True, refill=True),
    "both-unsplit": DecodeOptions(split_by_length=False),
    "both": DecodeOptions(),
    "both+shared": DecodeOptions(shared_attention=True),
}


def demo_requests(arms: list[str], n: int) -> tuple[list[Request], object]:
    """The first n golden examples of each arm, as the arm builds them for the run."""
    from harness.arms.base import ArmContext
    from harness.golden import load_golden_set
    from harness.runner import resolve_engines
    from harness.spec.suite import load_suite

    suite = load_suite(SUITE, require_adapters=False)
    ctx = ArmContext(suite, resolve_engines(suite))
    examples = []
    for spec in suite.golden_sets:
        examples += load_golden_set(suite.resolve(spec.path)).examples
    requests = []
    for name in arms:
        arm = ctx.arm(name)
        if hasattr(arm, "prepare"):  # retrieving arms retrieve for all examples first
            arm.prepare(examples[:n])
        requests += [arm.build(e) for e in examples[:n]]
    model = suite.model
    return requests, model


class Counter:
    """Forward passes of the model, and the tokens pushed through it (their input ids)."""

    def __init__(self, model):
        self.tokens = self.passes = 0
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            self.tokens += ids.numel()
            self.passes += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default="prompt", help="comma-separated arms of the demo")
    parser.add_argument("--n", type=int, default=48, help="golden examples per arm")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--with-cb", action="store_true", help="also transformers' continuous "
                        "batching (slow on CPU, see the report it prints)")
    parser.add_argument("--merge", action="store_true", help="also both+merged (arms with an "
                        "adapter: its weights merged into the base while it serves)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dtype", default=None, help="default: the suite's (auto)")
    parser.add_argument("--methods", default=None, help="comma-separated subset to run "
                        "(generate always runs: it is the reference)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from harness.models import resolve_model

    requests, model_spec = demo_requests(args.arms.split(","), args.n)
    engine = LocalEngine(resolve_model(model_spec.base, SUITE.parent),
                         dtype=args.dtype or model_spec.dtype, batch_size=args.batch)
    decoder = engine._decoder
    assert decoder is not None, "this model cannot use the own decode loop"
    counter = Counter(engine._base)
    prompts = [engine.encode(r.messages) for r in requests]
    lengths = sorted(len(p) for p in prompts)
    print(f"{len(requests)} requests (arms {args.arms}), prompts {lengths[0]}-{lengths[-1]} "
          f"tokens (median {statistics.median(lengths)}), max_tokens "
          f"{requests[0].params.max_tokens}, batch {args.batch}, {engine.identity()['dtype']}, "
          f"torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}")
    engine.generate(requests[:2])  # warm-up (and loads an adapter, if an arm has one)

    texts: dict[str, list[str]] = {}

    def through_engine(name: str, options: DecodeOptions | None) -> Callable[[], int]:
        def run() -> int:
            engine._merge = name.endswith("+merged")
            engine._decoder = None if options is None else decoder
            if options is not None:
                decoder.options = options
            try:
                responses = engine.generate(requests)
            finally:
                engine._decoder = decoder
            texts[name] = [r.text for r in responses]
            return sum(r.completion_tokens for r in responses)
        return run

    methods: dict[str, Callable[[], int]] = {"generate": through_engine("generate", None)}
    for name, options in OWN.items():
        methods[name] = through_engine(name, options)
    if args.merge:
        methods["both+merged"] = through_engine("both+merged", DecodeOptions())
    if args.with_cb:
        methods["transformers-cb"] = lambda: continuous_batching(engine, requests, prompts,
                                                                 args.batch, texts)
    if args.methods:
        chosen = {"generate", *args.methods.split(",")}
        methods = {name: run for name, run in methods.items() if name in chosen}

    seconds: dict[str, list[float]] = {name: [] for name in methods}
    cpu: dict[str, list[float]] = {name: [] for name in methods}
    tokens: dict[str, int] = {}
    work: dict[str, tuple[int, int]] = {}
    names = list(methods)
    for rep in range(args.repeats):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            before = (counter.tokens, counter.passes)
            started, cpu_started = time.perf_counter(), time.process_time()
            tokens[name] = methods[name]()
            seconds[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
            work[name] = (counter.tokens - before[0], counter.passes - before[1])
            print(f"  repeat {rep + 1} {name:<15} {tokens[name]:5d} tok "
                  f"{seconds[name][-1]:7.1f} s {tokens[name] / seconds[name][-1]:6.1f} tok/s "
                  f"CPU {cpu[name][-1]:7.1f} s  model tokens {work[name][0]:6d} passes "
                  f"{work[name][1]:5d}  load {os.getloadavg()[0]:.1f}", flush=True)

    base = statistics.median(seconds["generate"])
    base_cpu = statistics.median(cpu["generate"])
    print("\n| method | wall s | tok/s | vs generate (wall) | CPU s | vs generate (CPU) "
          "| model tokens | passes | identical texts vs generate |")
    print("|---" * 9 + "|")
    for name in names:
        wall, used = statistics.median(seconds[name]), statistics.median(cpu[name])
        same = sum(a == b for a, b in zip(texts[name], texts["generate"], strict=True))
        print(f"| {name} | {wall:.1f} | {tokens[name] / wall:.1f} | {base / wall:.2f}x "
              f"| {used:.1f} | {base_cpu / used:.2f}x | {work[name][0]} | {work[name][1]} "
              f"| {same}/{len(requests)} |")


def continuous_batching(engine: LocalEngine, requests: list[Request], prompts: list[list[int]],
                        batch: int, texts: dict[str, list[str]]) -> int:
    """transformers' own continuous batching (paged cache, prefix blocks shared), greedy."""
    from transformers import GenerationConfig
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    if any(r.adapter is not None for r in requests):
        raise SystemExit("--with-cb: run it on arms without an adapter")
    config = GenerationConfig(max_new_tokens=requests[0].params.max_tokens, do_sample=False,
                              eos_token_id=engine._eos_ids, pad_token_id=engine._pad_id)
    cb = ContinuousBatchingConfig(page_size=32, max_requests_per_batch=batch, seed=0)
    with torch.inference_mode():
        results = engine._base.generate_batch(prompts, generation_config=config,
                                              continuous_batching_config=cb, warmup=False)
    outputs = list(results.values())
    texts["transformers-cb"] = [
        engine._tokenizer.decode(o.generated_tokens, skip_special_tokens=True) for o in outputs]
    return sum(len(o.generated_tokens) for o in outputs)


if __name__ == "__main__":
    main()
