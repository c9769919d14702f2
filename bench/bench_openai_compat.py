"""Benchmark the OpenAI-compatible engine against a plain `openai.AsyncOpenAI` loop.

Prints, side by side in one run:
1. throughput on one real vLLM CPU server (managed by the harness, spoken to as any
   OpenAI-compatible endpoint): harness OpenAICompatEngine.generate vs a plain AsyncOpenAI
   loop with the same concurrency and the same prompts, interleaved rounds
   (goal: ratio >= 0.97);
2. CPU per request of each client against a zero-latency server in another process
   (tests/fake_openai_server.py), so the figure is the client's own work
   (goal: harness under 1 ms per request).

Run: .venv/bin/python bench/bench_openai_compat.py [--requests 96] [--max-tokens 64]
     [--concurrency 16] [--rounds 3] [--cpu-requests 2000] [--skip-vllm]
Needs .venv-vllm (scripts/setup_vllm.sh) for part 1. Takes ~4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.engines.openai import OpenAICompatEngine  # noqa: E402
from harness.types import GenerationParams, Request  # noqa: E402

TOPICS = ["the sea", "a lighthouse", "bees", "a library", "winter", "a train", "coffee",
          "mountains", "a market", "the moon", "rain", "a garden", "bridges", "owls", "bread",
          "a violin"]


def requests_for(n: int, max_tokens: int) -> list[Request]:
    params = GenerationParams(max_tokens=max_tokens)
    return [Request(messages=({"role": "user", "content":
                               f"Write a short paragraph about {TOPICS[i % len(TOPICS)]} "
                               f"(variation {i})."},), params=params) for i in range(n)]


def harness_engine(url: str, model: str, concurrency: int) -> OpenAICompatEngine:
    return OpenAICompatEngine(url=url, model=model, identity={"kind": "openai", "model": model},
                              concurrency=concurrency)


def run_harness(url: str, model: str, requests: list[Request], concurrency: int
                ) -> tuple[float, float, int]:
    engine = harness_engine(url, model, concurrency)
    engine.start()
    cpu, started = time.process_time(), time.perf_counter()
    responses = engine.generate(requests)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert not any(r.failed for r in responses), [r.error for r in responses if r.failed][:1]
    return wall, cpu, sum(r.completion_tokens for r in responses)


def run_plain(url: str, model: str, requests: list[Request], concurrency: int
              ) -> tuple[float, float, int]:
    import openai

    async def main() -> int:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        limit = asyncio.Semaphore(concurrency)

        async def one(request: Request) -> int:
            async with limit:
                p = request.params
                out = await client.chat.completions.create(
                    model=model, messages=list(request.messages), max_tokens=p.max_tokens,
                    temperature=p.temperature, top_p=p.top_p, seed=p.seed)
                return out.usage.completion_tokens if out.usage else 0

        try:
            return sum(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            await client.close()

    cpu, started = time.process_time(), time.perf_counter()
    tokens = asyncio.run(main())
    return time.perf_counter() - started, time.process_time() - cpu, tokens


def fmt(values: list[float]) -> str:
    return (f"min {min(values):.3f} median {statistics.median(values):.3f} "
            f"max {max(values):.3f}")


def bench_vllm(args: argparse.Namespace) -> None:
    from harness.engines.vllm import VLLMEngine, default_vllm_python
    from harness.models import resolve_model

    if not Path(default_vllm_python()).exists():
        print("skipping the vLLM part: no .venv-vllm (scripts/setup_vllm.sh)")
        return
    server = VLLMEngine(resolve_model("default"), concurrency=args.concurrency)
    server.start()  # the managed server; both clients below speak plain OpenAI to it
    try:
        url, model = server.base_url, server.base_model_name
        requests = requests_for(args.requests, args.max_tokens)
        run_harness(url, model, requests[:8], args.concurrency)  # warm up the server
        ratios, h_tps, p_tps = [], [], []
        for round_ in range(args.rounds):
            order = [run_harness, run_plain] if round_ % 2 == 0 else [run_plain, run_harness]
            results = {}
            for fn in order:
                results[fn] = fn(url, model, requests, args.concurrency)
            (hw, _, ht), (pw, _, pt) = results[run_harness], results[run_plain]
            h_tps.append(ht / hw)
            p_tps.append(pt / pw)
            ratios.append((ht / hw) / (pt / pw))
            print(f"  round {round_ + 1}: harness {ht / hw:.1f} tok/s ({hw:.1f} s), plain "
                  f"AsyncOpenAI {pt / pw:.1f} tok/s ({pw:.1f} s), ratio {ratios[-1]:.3f}")
        print(f"throughput, {args.requests} requests x {args.max_tokens} tokens, "
              f"{args.concurrency} in flight, vLLM CPU server:")
        print(f"  harness tok/s {fmt(h_tps)}; plain tok/s {fmt(p_tps)}")
        print(f"  ratio harness/plain {fmt(ratios)} (goal >= 0.97)")
    finally:
        server.close()


def bench_cpu(args: argparse.Namespace) -> None:
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); "
            "from tests.fake_openai_server import FakeOpenAIServer; "
            "s = FakeOpenAIServer().start(); print(s.url, flush=True); time.sleep(3600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(REPO)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = proc.stdout.readline().strip()
        requests = requests_for(args.cpu_requests, 16)
        run_harness(url, "fake-model", requests[:50], args.concurrency)  # warm up imports
        run_plain(url, "fake-model", requests[:50], args.concurrency)
        per = {"harness": [], "plain": []}
        for round_ in range(args.rounds):
            for name, fn in ((("harness", run_harness), ("plain", run_plain)) if round_ % 2 == 0
                             else (("plain", run_plain), ("harness", run_harness))):
                _, cpu, _ = fn(url, "fake-model", requests, args.concurrency)
                per[name].append(1000 * cpu / len(requests))
        print(f"client CPU per request, {args.cpu_requests} requests to a zero-latency server "
              "in another process:")
        print(f"  harness ms {fmt(per['harness'])} (goal < 1 ms)")
        print(f"  plain AsyncOpenAI ms {fmt(per['plain'])}")
        ratios = [h / p for h, p in zip(per["harness"], per["plain"], strict=True)]
        print(f"  ratio harness/plain {fmt(ratios)}")
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu-requests", type=int, default=2000)
    parser.add_argument("--skip-vllm", action="store_true")
    args = parser.parse_args()
    bench_cpu(args)
    if not args.skip_vllm:
        bench_vllm(args)


if __name__ == "__main__":
    main()
