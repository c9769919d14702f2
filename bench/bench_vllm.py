"""Benchmark the vLLM engine against the server it drives (one managed server, real requests).

Prints, side by side on the same server:
1. throughput: harness VLLMEngine.generate vs a plain concurrent openai AsyncClient loop
   sending the same requests (goal: ratio >= 0.95);
2. batching: wall time of base + adapter requests sent together vs each alone
   (goal: together <= 1.3x the slower alone);
3. adapter hot-load (POST /v1/load_lora_adapter) vs a server restart.

Run: .venv/bin/python bench/bench_vllm.py [--requests 64] [--max-tokens 64] [--rounds 2]
Needs .venv-vllm (scripts/setup_vllm.sh) or HARNESS_VLLM_PYTHON. Takes ~4-5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import torch

from harness.adapters_io import load_adapter_ref, serving_name
from harness.engines.vllm import VLLMEngine
from harness.models import resolve_model
from harness.types import AdapterRef, GenerationParams, Request

TOPICS = ["the sea", "a lighthouse", "bees", "a library", "winter", "a train", "coffee",
          "mountains", "a market", "the moon", "rain", "a garden", "bridges", "owls", "bread",
          "a violin"]


def make_adapter(base_path: str, folder: Path, seed: int) -> AdapterRef:
    """A random r=8 LoRA on q_proj/v_proj (lora_B non-zero, so it really changes outputs)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.bfloat16)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0,
                                            target_modules=["q_proj", "v_proj"]))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            # Both factors from the seeded generator (peft draws lora_A from the global RNG
            # and zeroes lora_B, a no-op adapter): the same seed gives the same adapter.
            scale = 0.1 if "lora_B" in name else 0.024  # lora_A: about peft's kaiming init
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    model.save_pretrained(folder)
    return load_adapter_ref(folder)


def requests_for(n: int, max_tokens: int, adapter: AdapterRef | None = None,
                 offset: int = 0) -> list[Request]:
    # min_tokens is not in GenerationParams; distinct open prompts keep lengths comparable.
    params = GenerationParams(max_tokens=max_tokens)
    return [Request(messages=({"role": "user", "content":
                               f"Write a short story (#{offset + i}) about "
                               f"{TOPICS[(offset + i) % len(TOPICS)]}."},),
                    params=params, adapter=adapter) for i in range(n)]


def timed_harness(engine: VLLMEngine, requests: list[Request]) -> tuple[float, int]:
    started = time.perf_counter()
    responses = engine.generate(requests)
    return time.perf_counter() - started, sum(r.completion_tokens for r in responses)


def timed_plain_client(url: str, model: str, requests: list[Request],
                       concurrency: int) -> tuple[float, int]:
    """The baseline a user would write: openai.AsyncOpenAI + a semaphore, nothing else."""
    from openai import AsyncOpenAI

    async def run() -> int:
        client = AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0,
                             timeout=600)
        limit = asyncio.Semaphore(concurrency)

        async def one(request: Request) -> int:
            async with limit:
                out = await client.chat.completions.create(
                    model=model, messages=list(request.messages),
                    max_tokens=request.params.max_tokens, temperature=0.0, top_p=1.0,
                    seed=request.params.seed,
                    extra_body={"top_k": -1, "repetition_penalty": 1.0})
            return out.usage.completion_tokens

        try:
            return sum(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            await client.close()

    started = time.perf_counter()
    tokens = asyncio.run(run())
    return time.perf_counter() - started, tokens


def bench_throughput(engine: VLLMEngine, n: int, max_tokens: int, rounds: int) -> None:
    requests = requests_for(n, max_tokens)
    engine.generate(requests[: engine.concurrency])  # warm-up (and prefix cache) for both
    harness_rates, plain_rates = [], []
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits both alike
        seconds, tokens = timed_harness(engine, requests)
        harness_rates.append(tokens / seconds)
        seconds, tokens = timed_plain_client(engine.base_url, engine.base_model_name, requests,
                                             engine.concurrency)
        plain_rates.append(tokens / seconds)
    h, p = statistics.median(harness_rates), statistics.median(plain_rates)
    print(f"throughput ({n} requests x {max_tokens} tokens, concurrency {engine.concurrency}, "
          f"median of {rounds}):")
    print(f"  harness engine       {h:7.1f} tok/s   {fmt(harness_rates)}")
    print(f"  plain openai client  {p:7.1f} tok/s   {fmt(plain_rates)}")
    print(f"  ratio harness/plain  {h / p:7.3f}   (goal >= 0.95)")


def bench_batching(engine: VLLMEngine, adapter: AdapterRef, n: int, max_tokens: int) -> None:
    base = requests_for(n, max_tokens)
    tuned = requests_for(n, max_tokens, adapter, offset=n)
    engine.generate(tuned[:4])  # the adapter's first use pays its load into a slot
    concurrency = engine.concurrency
    engine.concurrency = 2 * n  # every request in flight at once, in all three runs
    default = engine.mixed_batches
    both = [r for pair in zip(base, tuned, strict=True) for r in pair]
    try:
        t_base, tok_base = timed_harness(engine, base)
        t_tuned, tok_tuned = timed_harness(engine, tuned)
        engine.mixed_batches = True
        t_mixed, tok_mixed = timed_harness(engine, both)
        engine.mixed_batches = False
        t_waves, tok_waves = timed_harness(engine, both)
    finally:
        engine.concurrency, engine.mixed_batches = concurrency, default
    slower = max(t_base, t_tuned)
    chosen = "mixed" if engine.mixes_base_and_adapters else "two waves"
    print(f"batching ({n} base + {n} adapter requests x {max_tokens} tokens):")
    print(f"  base alone               {t_base:6.1f} s  ({tok_base / t_base:6.1f} tok/s)")
    print(f"  adapter alone            {t_tuned:6.1f} s  ({tok_tuned / t_tuned:6.1f} tok/s)")
    print(f"  together, mixed batches  {t_mixed:6.1f} s  ({tok_mixed / t_mixed:6.1f} tok/s)"
          f"  = {t_mixed / slower:4.2f}x the slower alone")
    print(f"  together, two waves      {t_waves:6.1f} s  ({tok_waves / t_waves:6.1f} tok/s)"
          f"  = {t_waves / slower:4.2f}x the slower alone")
    print(f"  (goal <= 1.3x; this server's default: {chosen})")


def bench_hot_load(engine: VLLMEngine, adapters: list[AdapterRef]) -> None:
    loads, first_requests = [], []
    for adapter in adapters:
        started = time.perf_counter()
        engine.load_adapter(adapter)
        loads.append(time.perf_counter() - started)
        started = time.perf_counter()  # the first request also moves the weights into a slot
        engine.generate(requests_for(1, 1, adapter))
        first_requests.append(time.perf_counter() - started)
        engine.unload_adapter(adapter)
    print(f"adapter hot-load ({len(adapters)} adapters):")
    print(f"  POST /v1/load_lora_adapter      median {statistics.median(loads) * 1000:7.1f} ms")
    print(f"  first 1-token request after it  median "
          f"{statistics.median(first_requests) * 1000:7.1f} ms")


def fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in values) + "]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    model = resolve_model("default")
    with tempfile.TemporaryDirectory(prefix="bench-vllm-") as tmp:
        root = Path(tmp)
        adapter = make_adapter(model.path, root / "a1", seed=1)
        extra = [make_adapter(model.path, root / f"x{s}", seed=s) for s in (11, 12, 13)]

        def make_engine() -> VLLMEngine:
            return VLLMEngine(model, adapters=[adapter], max_loras=2, log_dir=root / "logs",
                              concurrency=args.concurrency, request_timeout_s=600)

        engine = make_engine()
        try:
            started = time.perf_counter()
            engine.start()
            startup = time.perf_counter() - started
            print(f"server start-up (managed, to /health 200): {startup:.1f} s "
                  f"(pid {engine.server.pid}, log {engine.log_path})")
            bench_throughput(engine, args.requests, args.max_tokens, args.rounds)
            bench_batching(engine, adapter, args.requests // 2, args.max_tokens)
            bench_hot_load(engine, extra)
            loaded = [m["id"] for m in httpx.get(f"{engine.base_url}/v1/models").json()["data"]]
            assert all(serving_name(a) not in loaded for a in extra)
        finally:
            started = time.perf_counter()
            engine.close()
            stop = time.perf_counter() - started
        with make_engine() as again:
            started = time.perf_counter()
            again.start()
            start = time.perf_counter() - started
        print(f"server restart instead: {stop + start:.1f} s (stop {stop:.1f} s + start to "
              f"healthy {start:.1f} s)")

if __name__ == "__main__":
    main()
