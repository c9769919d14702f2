"""Benchmark the fixed cost around the engine: `harness run` against a plain client, same server.

One managed vLLM CPU server is started once (127.0.0.1, stopped by PID at the end). In front of
it runs a tiny timestamping reverse proxy (in this process), so both contenders are timed by the
same clock at the same place: when each request arrives, when each response leaves. Per run:

- start-up: process start -> the first chat request arriving at the server;
- tail:     the last chat response sent -> the process has exited;
- span:     first request -> last response (the server's share; the same work for both);
- wall:     process start -> exit.

Contenders, alternately, `--rounds` times for each number of requests N in `--sizes` (each a
fresh process and a fresh run and cache folder, so nothing is cached), after one warm-up round:

- `harness run` on a temporary suite, the shape a team starts with: a golden set of N/2
  examples and two arms on the server (`kind: openai` attached to it, 16 in flight), a plain
  prompt and a system prompt, so N requests; scorers token_f1 (primary), rouge_l, contains; a
  beats gate and a threshold gate; every report (markdown, forest plot, JSON, JUnit).
- a plain httpx async client (a script, run the same way): the same N request bodies (checked
  at the proxy), 16 in flight, the answers written to a JSONL file;
- with `--floor`, the same client after it imports what harness's command line is built on
  (click, rich's console and progress, pydantic with one model built, PyYAML): the part of
  harness's start-up that its libraries cost, whatever harness does.

Every request asks for exactly `--max-tokens` tokens (`ignore_eos`), so both do the same work.
Both run with a bytecode cache (a folder under the temporary one), as an installed package
has, even where PYTHONDONTWRITEBYTECODE is set.

Run: .venv/bin/python bench/bench_overhead.py [--sizes 8 96] [--rounds 3] [--max-tokens 64]
          [--baseline DIR]   (DIR holds another harness/ package, timed the same way)
          [--floor]          (also the plain client after harness's libraries)
Needs .venv-vllm (scripts/setup_vllm.sh) or HARNESS_VLLM_PYTHON. On 2 CPU cores the server
generates ~50 tokens/s: about 25 minutes with the defaults (96 requests take ~2 minutes), 38
with a baseline. Figures and what they mean: docs/scale.md, "The fixed cost around the engine".
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.engines._vllm_server import VLLMServer, free_port, server_args
from harness.engines.vllm import default_vllm_python
from harness.models import resolve_model

HOST = "127.0.0.1"
SERVED = "bench"
CONCURRENCY = 16
TOPICS = ["the sea", "a lighthouse", "bees", "a library", "winter", "a train", "coffee",
          "mountains", "a market", "the moon", "rain", "a garden", "bridges", "owls", "bread",
          "a violin"]
# vLLM's sampling fields: outputs depend on the request alone, and every answer is max_tokens.
EXTRA_BODY = {"ignore_eos": True, "top_k": -1, "repetition_penalty": 1.0}

PLAIN_CLIENT = '''
import asyncio, json, sys
import httpx

async def main(url, bodies_path, out_path, concurrency):
    bodies = [json.loads(line) for line in open(bodies_path)]
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=600) as client:
        async def one(body):
            async with limit:
                r = await client.post(url + "/v1/chat/completions", json=body)
                r.raise_for_status()
                return r.json()
        answers = await asyncio.gather(*(one(b) for b in bodies))
    with open(out_path, "w") as out:
        for a in answers:
            out.write(json.dumps({"text": a["choices"][0]["message"]["content"],
                                  "usage": a.get("usage")}) + "\\n")

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
'''

# The plain client after importing what harness's command line is built on: the start-up any
# client on these libraries pays before its first request (--floor).
LIBRARIES_FIRST = '''
import click, yaml
import rich.console, rich.progress
import pydantic

class Check(pydantic.BaseModel):  # the first model built loads pydantic's schema machinery
    name: str
    n: int = 0

Check.model_validate(yaml.safe_load("name: floor"))
rich.console.Console(stderr=True)
'''

# ---- the timestamping proxy ------------------------------------------------------------------

@dataclass
class Exchange:
    path: str
    arrived: float  # request head read
    answered: float  # response written to the client
    body_hash: str
    completion_tokens: int


@dataclass
class Proxy:
    """HTTP/1.1 reverse proxy (keep-alive, Content-Length or chunked bodies) recording when
    each request arrives and each response leaves, on this process's perf_counter clock."""

    upstream_port: int
    port: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)  # chat request bodies, in arrival order
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            server = loop.run_until_complete(asyncio.start_server(
                self._handle, HOST, 0, limit=1 << 22))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.exchanges, self.bodies = [], []

    def chat(self) -> list[Exchange]:
        with self._lock:
            return [e for e in self.exchanges if e.path.endswith("/chat/completions")]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader = up_writer = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                arrived = time.perf_counter()
                path = head.split(b" ", 2)[1].decode()
                body = await _read_body(reader, _headers(head))
                try:
                    if up_writer is None:
                        up_reader, up_writer = await asyncio.open_connection(
                            HOST, self.upstream_port, limit=1 << 22)
                    up_writer.write(head + body)
                    await up_writer.drain()
                    assert up_reader is not None
                    rhead = await up_reader.readuntil(b"\r\n\r\n")
                    rheaders = _headers(rhead)
                    rbody = await _read_body(up_reader, rheaders, response=True)
                    writer.write(rhead + rbody)
                    await writer.drain()
                except (asyncio.IncompleteReadError, OSError):
                    return  # the server or the client went away: so does this connection
                answered = time.perf_counter()
                tokens = 0
                if path.endswith("/chat/completions"):
                    try:
                        payload = rbody if "chunked" not in rheaders.get(
                            "transfer-encoding", "") else _dechunk(rbody)
                        tokens = int(json.loads(payload)["usage"]["completion_tokens"])
                    except (ValueError, KeyError, TypeError):
                        tokens = -1
                with self._lock:
                    self.exchanges.append(Exchange(path, arrived, answered,
                                                   hashlib.sha256(body).hexdigest(), tokens))
                    if path.endswith("/chat/completions"):
                        self.bodies.append(body)
                if rheaders.get("connection", "").lower() == "close":
                    return
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()


def _headers(head: bytes) -> dict[str, str]:
    out = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            out[key.strip().lower()] = value.strip()
    return out


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str],
                     response: bool = False) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if "chunked" in headers.get("transfer-encoding", ""):
        raw = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            raw += size_line
            size = int(size_line.split(b";")[0], 16)
            raw += await reader.readexactly(size + 2)
            if size == 0:
                return raw
    return await reader.read() if response else b""


def _dechunk(raw: bytes) -> bytes:
    out, rest = b"", raw
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


# ---- the two contenders ----------------------------------------------------------------------

def write_suite(folder: Path, n: int, proxy_url: str, weights: str, max_tokens: int) -> Path:
    """A suite whose run sends `n` requests: n/2 examples, two arms on the server."""
    golden = folder / "golden.jsonl"
    with golden.open("w") as out:
        for i in range(n // 2):
            topic = TOPICS[i % len(TOPICS)]
            out.write(json.dumps({"id": f"s{i}", "tags": [topic.split()[-1]],
                                  "instruction": f"Write a short story (#{i}) about {topic}.",
                                  "output": f"Once upon a time there was {topic}."}) + "\n")
    suite = {
        "name": "overhead",
        "golden_sets": [{"path": "golden.jsonl"}],
        "engine": {"kind": "openai", "url": proxy_url, "model": SERVED, "weights": weights,
                   "concurrency": CONCURRENCY, "request_timeout_s": 600,
                   "extra_body": EXTRA_BODY},
        "generation": {"max_tokens": max_tokens, "temperature": 0, "seed": 0},
        "arms": [{"name": "plain", "kind": "prompt"},
                 {"name": "storyteller", "kind": "prompt",
                  "system_prompt": "You are a storyteller. Answer with a short story."}],
        "scorers": [{"name": "f1", "kind": "token_f1", "primary": True},
                    {"name": "rouge", "kind": "rouge_l"},
                    {"name": "has_topic", "kind": "contains"}],
        "gates": [{"type": "beats", "arm": "storyteller", "baseline": "plain",
                   "min_win_rate_lower": 0.5},
                  {"type": "threshold", "arm": "storyteller", "scorer": "f1", "min": 0.01}],
        "output": {"runs_dir": "runs", "reports_dir": "reports"},
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def harness_command(suite: Path) -> list[str]:
    script = Path(sys.executable).with_name("harness")
    return [str(script) if script.exists() else sys.executable,
            *([] if script.exists() else ["-m", "harness"]), "run", str(suite)]


@dataclass
class Timing:
    who: str
    n: int
    startup: float
    span: float
    tail: float
    wall: float
    tokens: int
    bodies: list[str]


def timed(who: str, n: int, argv: list[str], proxy: Proxy, log: Path, env: dict[str, str],
          ok: set[int]) -> Timing:
    proxy.reset()
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=log.parent)
        code = proc.wait()
        ended = time.perf_counter()
    if code not in ok:
        raise SystemExit(f"{who} exited with {code}; log: {log}\n{log.read_text()[-3000:]}")
    chat = proxy.chat()
    if len(chat) != n:
        raise SystemExit(f"{who}: the server saw {len(chat)} chat requests, expected {n} "
                         f"(log: {log})")
    first = min(e.arrived for e in chat)
    last = max(e.answered for e in chat)
    return Timing(who, n, first - started, last - first, ended - last, ended - started,
                  sum(e.completion_tokens for e in chat), sorted(e.body_hash for e in chat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 96],
                        help="requests per run (even: two arms)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="also time the harness package found in this folder (a folder "
                        "holding an older harness/, e.g. a `git worktree`), interleaved")
    parser.add_argument("--floor", action="store_true", help="also time the plain client "
                        "after it imports click, rich, pydantic (one model built) and PyYAML "
                        "(`plain+libs`): the start-up of any client on harness's libraries")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if any(n < 2 or n % 2 for n in args.sizes):
        parser.error("--sizes: even numbers of requests (two arms of n/2 examples)")

    model = resolve_model("default")
    tmp = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    port = free_port(HOST)
    server = VLLMServer(
        [default_vllm_python(), "-m", "vllm.entrypoints.openai.api_server"],
        server_args(model.path, host=HOST, port=port, max_lora_rank=16, max_loras=1,
                    max_model_len=2048, dtype="bfloat16", served_model_name=SERVED),
        host=HOST, port=port, log_path=tmp / "vllm-server.log")
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb",
           "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
    for name in ("HARNESS_DEBUG", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"):
        env.pop(name, None)
    harnesses = {"harness": env}
    if args.baseline is not None:
        harnesses["baseline"] = {**env, "PYTHONPATH": str(args.baseline.resolve())}
    plains = {"plain": "plain_client.py", **({"plain+libs": "libs_client.py"} if args.floor
                                             else {})}
    who = [*harnesses, *plains]
    results: list[Timing] = []
    try:
        server.start()
        print(f"vLLM server pid {server.pid} on port {port}: healthy after "
              f"{server.wait_healthy(600):.0f} s (log {server.log_path})", flush=True)
        proxy = Proxy(port)
        proxy.start()
        (tmp / "plain_client.py").write_text(PLAIN_CLIENT)
        (tmp / "libs_client.py").write_text(LIBRARIES_FIRST + PLAIN_CLIENT)
        for n in args.sizes:
            for r in range(args.rounds + 1):  # round 0 warms up (bytecode, page cache)
                label = "warm-up" if r == 0 else f"round {r}"
                round_results = []
                for name, harness_env in harnesses.items():
                    folder = tmp / f"n{n}-r{r}-{name}"
                    folder.mkdir()
                    suite = write_suite(folder, n, proxy.url, model.path, args.max_tokens)
                    round_results.append(timed(name, n, harness_command(suite), proxy,
                                               folder / "harness.log", harness_env,
                                               ok={0, 10, 11, 12, 13}))
                    bodies = folder / "bodies.jsonl"
                    bodies.write_bytes(b"\n".join(proxy.bodies) + b"\n")
                for name, script in plains.items():
                    folder = tmp / f"n{n}-r{r}-{name}"
                    folder.mkdir()
                    round_results.append(timed(
                        name, n, [sys.executable, str(tmp / script), proxy.url, str(bodies),
                                  str(folder / "answers.jsonl"), str(CONCURRENCY)],
                        proxy, folder / "plain.log", env, ok={0}))
                first = round_results[0]
                for t in round_results:
                    if t.bodies != first.bodies or t.tokens != first.tokens:
                        raise SystemExit(f"n={n}: {t.who} sent other work than {first.who} "
                                         f"({t.tokens} vs {first.tokens} tokens)")
                    print(f"  n={n:<4} {label:<8} {t.who:<10} start-up {t.startup:5.2f} s  "
                          f"span {t.span:6.2f} s  tail {t.tail:5.2f} s  wall {t.wall:6.2f} s  "
                          f"({t.tokens} tokens)", flush=True)
                if r:
                    results += round_results
    finally:
        server.stop()
    report(results, args, who)
    if args.keep:
        print(f"kept {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def report(results: list[Timing], args: argparse.Namespace, who: list[str]) -> None:
    def med(values: list[float], digits: int = 2) -> str:
        return (f"{statistics.median(values):.{digits}f} "
                f"[{min(values):.{digits}f}-{max(values):.{digits}f}]")

    print(f"\nmedian [min-max] seconds over {args.rounds} rounds; {args.max_tokens} tokens per "
          f"request, {CONCURRENCY} in flight, nothing cached")
    print(f"{'N':>4}  {'who':<10} {'start-up':<18} {'server span':<18} {'tail':<18} "
          f"{'wall':<18} {'wall / plain':<18}")
    for n in args.sizes:
        plain = [t for t in results if t.n == n and t.who == "plain"]
        for name in who:
            rows = [t for t in results if t.n == n and t.who == name]
            ratios = [t.wall / p.wall for t, p in zip(rows, plain, strict=True)]
            print(f"{n:>4}  {name:<10} {med([t.startup for t in rows]):<18} "
                  f"{med([t.span for t in rows]):<18} {med([t.tail for t in rows]):<18} "
                  f"{med([t.wall for t in rows]):<18} "
                  f"{med(ratios, 3) if name != 'plain' else '':<18}")


if __name__ == "__main__":
    main()
