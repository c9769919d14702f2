"""Benchmark the ray engine against the local engine on the same 2 cores and the same requests.

Side by side, in alternating order each round:
  local:   `kind: local`, one process, torch on 2 threads, batch 8;
  ray-1x2: `kind: ray`, a local cluster, 1 actor of 2 CPUs (2 threads), batch 8: what Ray
           itself costs around the same computation;
  ray-2x1: `kind: ray`, a local cluster, 2 actors of 1 CPU each, batch 8: the layout a cluster
           uses (one model per actor), on this machine's 2 cores.
For each: the wall time from building the engine to closing it (model loads, Ray's cluster
start and stop, actor start-up included), the time to the first response, and the generation
time after it; ratios against local.

Run: nice .venv/bin/python bench/bench_ray.py [--requests 48] [--max-tokens 32] [--rounds 2]
Needs the ray extra (pip install '.[ray]'). About 3-4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does, before torch loads

from harness.engines.base import EngineContext
from harness.engines.local import LocalEngineSpec
from harness.engines.ray import RayEngineSpec
from harness.spec.base import ModelSpec
from harness.types import GenerationParams, Request

TOPICS = ["the sea", "a lighthouse", "bees", "a library", "winter", "a train", "coffee",
          "mountains", "a market", "the moon", "rain", "a garden"]


def requests_for(n: int, max_tokens: int) -> list[Request]:
    params = GenerationParams(max_tokens=max_tokens)
    return [Request(messages=({"role": "user", "content":
                               f"Write a paragraph about {TOPICS[i % len(TOPICS)]}."},),
                    params=params) for i in range(n)]


def run(spec, requests: list[Request], dtype: str) -> dict[str, float]:
    ctx = EngineContext("default", Path.cwd(), ModelSpec(base="default", dtype=dtype))
    started = time.perf_counter()
    stamps: list[float] = []
    engine = spec.build(ctx, spec.resolve(ctx))
    responses = engine.generate(requests, progress=lambda i, r: stamps.append(
        time.perf_counter()))
    engine.close()
    total = time.perf_counter() - started
    tokens = sum(r.completion_tokens for r in responses)
    first = min(stamps) - started
    return {"total": total, "first": first, "after_first": max(stamps) - min(stamps),
            "tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    requests = requests_for(args.requests, args.max_tokens)
    specs = {
        "local": LocalEngineSpec(kind="local", batch_size=8, threads=2),
        "ray-1x2": RayEngineSpec(kind="ray", actors=1, cpus_per_actor=2, batch_size=8),
        "ray-2x1": RayEngineSpec(kind="ray", actors=2, cpus_per_actor=1, batch_size=8),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in specs}
    for round_ in range(args.rounds):
        order = list(specs) if round_ % 2 == 0 else list(reversed(specs))
        for name in order:
            r = run(specs[name], requests, args.dtype)
            results[name].append(r)
            print(f"round {round_ + 1} {name:8s} total {r['total']:6.1f} s, first response "
                  f"{r['first']:5.1f} s, then {r['after_first']:5.1f} s for the rest "
                  f"({r['tokens']} tokens)", flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\n{args.requests} requests x {args.max_tokens} tokens, dtype {args.dtype}, "
          "median of rounds:")
    for name in specs:
        print(f"  {name:8s} total {med(name, 'total'):6.1f} s  first response "
              f"{med(name, 'first'):5.1f} s  generation after it {med(name, 'after_first'):5.1f} s"
              f"  total / local {med(name, 'total') / med('local', 'total'):.2f}x")


if __name__ == "__main__":
    main()
