"""Benchmark a pool of two vLLM endpoints against one, on this machine (CPU-bound).

Starts three vLLM CPU servers at once and keeps them up for every round, so each configuration
is measured side by side with the others, in alternating order:
  one-2c: one server whose OpenMP threads use both cores (the one-endpoint baseline);
  one-1c: one server bound to core 0 (what one replica of the pair does alone);
  pool:   two servers, bound to core 0 and core 1, as one `PoolEngine`.
Every configuration sends the same number of requests (distinct prompts each time, so vLLM's
prefix cache never helps one over another) through the harness's own engines, with the same
concurrency per endpoint, and reports completion tokens per second and the pool's split.

Run: nice .venv/bin/python bench/bench_pool.py [--requests 64] [--max-tokens 48] [--rounds 2]
Needs .venv-vllm (scripts/setup_vllm.sh). About 12 GB of memory (three servers); ~4-5 minutes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness.engines._pool import PoolEngine
from harness.engines._vllm_server import VLLMServer, free_port, server_args
from harness.engines.vllm import VLLM_MODULE, VLLMEngine, default_vllm_python
from harness.models import resolve_model
from harness.types import GenerationParams, Request

TOPICS = ["the sea", "a lighthouse", "bees", "a library", "winter", "a train", "coffee",
          "mountains", "a market", "the moon", "rain", "a garden", "bridges", "owls", "bread",
          "a violin"]


def requests_for(n: int, max_tokens: int, offset: int) -> list[Request]:
    params = GenerationParams(max_tokens=max_tokens)
    return [Request(messages=({"role": "user", "content":
                               f"Write a long paragraph about {TOPICS[i % len(TOPICS)]} "
                               f"(note {offset + i})."},), params=params)
            for i in range(n)]


def start_servers(model_path: str, binds: dict[str, str], logs: Path) -> dict[str, VLLMServer]:
    python = default_vllm_python()
    servers = {}
    for name, cores in binds.items():
        port = free_port()
        args = server_args(model_path, host="127.0.0.1", port=port, max_lora_rank=8,
                           max_loras=1, max_model_len=1024, dtype="bfloat16")
        servers[name] = VLLMServer([python, "-m", VLLM_MODULE], args, host="127.0.0.1",
                                   port=port, log_path=logs / f"{name}.log",
                                   env={"VLLM_CPU_OMP_THREADS_BIND": cores})
        servers[name].start()
    for server in servers.values():
        server.wait_healthy(600)
    return servers


def measure(engine, requests: list[Request]) -> tuple[float, int]:
    started = time.perf_counter()
    responses = engine.generate(requests)
    seconds = time.perf_counter() - started
    assert not any(r.failed for r in responses), [r.error for r in responses if r.failed][:1]
    return seconds, sum(r.completion_tokens for r in responses)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=16, help="per endpoint")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    model = resolve_model("default")
    logs = Path(tempfile.mkdtemp(prefix="bench-pool-"))
    started = time.perf_counter()
    servers = start_servers(model.path, {"one-2c": "0-1", "r0": "0", "r1": "1"}, logs)
    print(f"3 servers healthy after {time.perf_counter() - started:.0f} s (logs: {logs})")

    def attached(name: str) -> VLLMEngine:
        engine = VLLMEngine(model, mode="attached", url=servers[name].url,
                            concurrency=args.concurrency)
        engine.start()
        return engine

    engines = {"one-2c": attached("one-2c"), "one-1c": attached("r0")}
    members = [attached("r0"), attached("r1")]
    pool = PoolEngine(members, members[0].identity(), name="bench")
    engines["pool"] = pool
    rates: dict[str, list[float]] = {name: [] for name in engines}
    offset = 0
    try:
        for round_ in range(args.rounds):
            order = list(engines) if round_ % 2 == 0 else list(reversed(engines))
            for name in order:
                before = dict(pool.split)
                seconds, tokens = measure(engines[name], requests_for(
                    args.requests, args.max_tokens, offset))
                offset += args.requests
                rates[name].append(tokens / seconds)
                split = ""
                if name == "pool":
                    split = "  split " + "/".join(str(pool.split[i] - before.get(i, 0))
                                                  for i in range(2))
                print(f"round {round_ + 1} {name:7s} {seconds:6.1f} s {tokens:5d} tokens "
                      f"{tokens / seconds:6.1f} tok/s{split}", flush=True)
    finally:
        for engine in engines.values():
            engine.close()
        for member in members:
            member.close()
        for server in servers.values():
            server.stop()

    med = {name: statistics.median(values) for name, values in rates.items()}
    print(f"\n{args.requests} requests x {args.max_tokens} tokens, {args.concurrency} in flight "
          "per endpoint, median of rounds:")
    for name, value in med.items():
        print(f"  {name:7s} {value:6.1f} tok/s")
    print(f"pool of two 1-core servers / one server on 2 cores: {med['pool'] / med['one-2c']:.2f}x")
    print(f"pool of two 1-core servers / one of them alone:     {med['pool'] / med['one-1c']:.2f}x")


if __name__ == "__main__":
    main()
