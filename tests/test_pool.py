"""A pool of endpoints serving one model (`kind: pool`, or `url: [...]` on the openai/vllm
engines): requests spread with a bound per endpoint, adapter affinity, failover when an
endpoint dies mid-run, one cache identity, and one-line errors for bad pools.

The first part runs against real local HTTP servers (tests/fake_openai_server.py) and needs no
vLLM. The tests marked `vllm` start two real vLLM CPU servers for the module (by PID, each bound
to one core) and stop them at the end; the test that kills one of them runs last: keep it at
the end of the file. On 2 cores they are a functional test, not a throughput one
(bench/bench_pool.py measures that).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from harness.adapters_io import serving_name
from harness.cli.main import cli
from harness.engines._pool import BASE, PoolEngine, Scheduler
from harness.engines.base import EngineContext
from harness.engines.openai import GenerationAborted, OpenAICompatEngine, OpenAIEngineSpec
from harness.spec.base import ModelSpec
from harness.store import load_run, read_jsonl_checked
from harness.types import GenerationParams, Request
from tests.cli_helpers import session_processes
from tests.conftest import REPO
from tests.fake_openai_server import FakeOpenAIServer

# peft calls a transformers API deprecated in v5 while building the test adapter.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

PARAMS = GenerationParams(max_tokens=16)
IDENTITY = {"kind": "openai", "model": "fake-model"}


def ask(text: str, adapter=None, params: GenerationParams = PARAMS) -> Request:
    return Request(messages=({"role": "user", "content": text},), params=params,
                   adapter=adapter)


def member(server: FakeOpenAIServer | str, **settings) -> OpenAICompatEngine:
    url = server if isinstance(server, str) else server.url
    settings = {"retries": 1, "request_timeout_s": 10.0, "concurrency": 3, **settings}
    return OpenAICompatEngine(url=url, model="fake-model", identity=IDENTITY, **settings)


def closed_url() -> str:
    """A local URL where nothing listens any more."""
    server = FakeOpenAIServer().start()
    url = server.url
    server.stop()
    return url


@pytest.fixture
def two_servers():
    with FakeOpenAIServer(delay=0.05) as a, FakeOpenAIServer(delay=0.05) as b:
        yield a, b


# ---- scheduling: which request an endpoint with a free slot takes (no I/O) -----------------

def test_each_adapter_goes_to_its_own_endpoint_until_one_runs_out_of_work():
    keys = ["A"] * 6 + ["B"] * 6
    s = Scheduler(keys, bounds={0: 2, 1: 2})
    first = [s.take(0), s.take(0), s.take(1), s.take(1)]
    assert [keys[i] for i in first] == ["A", "A", "B", "B"]  # each claims an unserved adapter
    assert s.take(0) is None  # at its bound
    for index in first:
        s.finish(0 if keys[index] == "A" else 1, index)
    # Each keeps to its own adapter while there is some left.
    taken = {m: {keys[s.take(m)] for _ in range(2)} for m in (0, 1)}
    assert taken == {0: {"A"}, 1: {"B"}}


def test_an_endpoint_with_nothing_left_of_its_own_helps_with_the_longest_queue():
    keys = ["A"] * 2 + ["B"] * 8
    s = Scheduler(keys, bounds={0: 2, 1: 2})
    a = [s.take(0), s.take(0)]
    b = [s.take(1), s.take(1)]
    for i in a:
        s.finish(0, i)
    assert keys[s.take(0)] == "B"  # no idle endpoint while requests wait; it loads B too
    assert s.serving[0] == {"A", "B"} and b


def test_an_endpoint_that_must_not_mix_sends_base_and_adapter_requests_apart():
    keys = [BASE] * 3 + ["A"] * 3
    s = Scheduler(keys, bounds={0: 4}, mixes={0: False})
    taken = [s.take(0) for _ in range(4)]
    assert [keys[i] for i in taken[:3]] == [BASE] * 3 and taken[3] is None
    for i in taken[:3]:
        s.finish(0, i)
    assert keys[s.take(0)] == "A"  # once the base requests are done


def test_a_dropped_endpoint_s_unfinished_requests_go_back_to_the_queue():
    s = Scheduler(["A"] * 4, bounds={0: 2, 1: 2})
    mine = [s.take(0), s.take(0)]
    assert s.drop(0) == sorted(mine)
    again = [s.take(1), s.take(1)]
    assert sorted(again) == sorted(mine) and not s.drained


# ---- the pool engine against real local HTTP servers ---------------------------------------

def test_requests_spread_over_every_endpoint_within_each_endpoint_s_bound(two_servers):
    a, b = two_servers
    pool = PoolEngine([member(a), member(b)], IDENTITY)
    seen: list[int] = []
    questions = [f"question {i}" for i in range(40)]
    responses = pool.generate([ask(q) for q in questions], progress=lambda i, r: seen.append(i))
    pool.close()
    assert [r.text for r in responses] == [f"echo: {q}" for q in questions]
    assert sorted(seen) == list(range(40))  # each response handed on once
    counts = (sum(a.counts.values()), sum(b.counts.values()))
    assert sum(counts) == 40 and min(counts) >= 10, counts  # measured: about 20 / 20
    assert a.max_in_flight <= 3 and b.max_in_flight <= 3  # the bound is per endpoint
    assert a.max_in_flight == 3 and b.max_in_flight == 3  # and both were used to it
    assert pool.split[0] + pool.split[1] == 40
    assert pool.identity() == IDENTITY


def test_an_endpoint_that_dies_mid_run_has_its_requests_finished_by_the_others(two_servers):
    a, b = two_servers
    pool = PoolEngine([member(a), member(b)], IDENTITY)
    seen: list[int] = []

    def progress(index, response):
        seen.append(index)
        if len(seen) == 10:
            b.stop()  # connections dropped, nothing listens any more

    responses = pool.generate([ask(f"q{i}") for i in range(40)], progress=progress)
    pool.close()
    assert sorted(seen) == list(range(40))  # every example once
    assert not any(r.failed for r in responses)
    assert [r.text for r in responses] == [f"echo: q{i}" for i in range(40)]
    assert pool.gone.keys() == {1} and pool.split[0] > pool.split[1]
    (warning,) = pool.warnings
    assert "endpoint 2/2" in warning and "is gone" in warning and "go to the other 1" in warning


def test_when_every_endpoint_is_gone_the_finished_responses_are_kept(two_servers):
    a, b = two_servers
    pool = PoolEngine([member(a), member(b)], IDENTITY)
    seen: list[int] = []

    def progress(index, response):
        seen.append(index)
        if len(seen) == 6:
            a.stop()
            b.stop()

    with pytest.raises(GenerationAborted) as aborted:
        pool.generate([ask(f"q{i}") for i in range(40)], progress=progress)
    pool.close()
    assert "every endpoint of the pool is gone" in aborted.value.message
    assert sorted(aborted.value.partial) == sorted(seen) and len(seen) >= 6


def test_a_pool_has_its_members_identity_so_a_replica_never_changes_a_cache_key(two_servers):
    a, b = two_servers
    ctx = EngineContext("default", Path("."), ModelSpec())
    one = OpenAIEngineSpec(kind="openai", url=a.url, model="fake-model")
    two = OpenAIEngineSpec(kind="openai", url=[a.url, b.url], model="fake-model")
    assert one.resolve(ctx).identity == two.resolve(ctx).identity
    engine = two.build(ctx, two.resolve(ctx))
    assert isinstance(engine, PoolEngine) and engine.identity() == one.resolve(ctx).identity
    assert not any(url in json.dumps(engine.identity()) for url in (a.url, b.url))


# ---- through the CLI -------------------------------------------------------------------------

def write_suite(folder: Path, engine: dict, n: int = 8, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "golden.jsonl").write_text("".join(
        json.dumps({"id": f"q{i}", "instruction": f"question {i}",
                    "output": f"echo: question {i}"}) + "\n" for i in range(n)))
    suite = {"name": "pool", "golden_sets": [{"path": "golden.jsonl"}], "engine": engine,
             "arms": [{"name": "a", "kind": "prompt"}], "scorers": ["exact_match"],
             "output": {"runs_dir": "runs", "reports_dir": "reports"}, **extra}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def test_an_endpoint_unreachable_at_start_is_left_out_and_the_run_says_so(tmp_path,
                                                                          two_servers):
    a, _ = two_servers
    dead = closed_url()
    suite = write_suite(tmp_path, {"kind": "openai", "url": [dead, a.url],
                                   "model": "fake-model", "connect_timeout_s": 2})
    # The real CLI: what a user sees on the terminal.
    result = subprocess.run([sys.executable, "-m", "harness", "run", str(suite)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # Said as it happens, and again among the run's warnings at the end.
    lines = [ln for ln in result.stderr.splitlines() if "unreachable at start" in ln]
    assert lines and not lines[0].startswith("warning:"), result.stderr
    assert f"endpoint 1/2 ({dead}) is unreachable at start" in lines[0]
    assert "the run goes on with the other 1 of 2 endpoints" in lines[0]
    (run_dir,) = (tmp_path / "runs" / "pool").iterdir()
    run = load_run(run_dir)
    assert any("unreachable at start" in w for w in run.manifest.warnings)
    assert run.complete and len(run.responses) == 8 and run.responses["error"].isna().all()
    assert sum(a.counts.values()) == 8


def test_a_pool_whose_endpoints_all_fail_at_start_is_exit_5(tmp_path):
    suite = write_suite(tmp_path, {"kind": "pool", "members": [
        {"kind": "openai", "url": closed_url(), "model": "fake-model", "connect_timeout_s": 2},
        {"kind": "openai", "url": closed_url(), "model": "fake-model",
         "connect_timeout_s": 2}]})
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["run", str(suite)])
    assert result.exit_code == 5, result.output
    assert "no endpoint of the pool answers" in result.output
    assert time.monotonic() - started < 30


def test_a_run_on_one_replica_is_served_from_the_cache_by_the_pool(tmp_path, two_servers):
    a, b = two_servers
    single = write_suite(tmp_path, {"kind": "openai", "url": a.url, "model": "fake-model"})
    assert CliRunner().invoke(cli, ["run", str(single)]).exit_code == 0
    pool = write_suite(tmp_path, {"kind": "pool", "members": [
        {"kind": "openai", "url": a.url, "model": "fake-model"},
        {"kind": "openai", "url": b.url, "model": "fake-model"}]})
    result = CliRunner().invoke(cli, ["run", str(pool), "--new-run"])
    assert result.exit_code == 0, result.output
    assert "8 responses (8 from cache, 0 generated)" in result.output
    assert sum(a.counts.values()) == 8 and sum(b.counts.values()) == 0


def validate(suite: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", str(suite)])
    return result.exit_code, result.output.strip()


def test_a_pool_with_no_members_is_one_line(tmp_path):
    code, output = validate(write_suite(tmp_path, {"kind": "pool", "members": []}))
    assert code == 2
    assert re.search(r"suite.yaml:\d+: engine.members: a pool needs at least one member", output)
    assert len(output.splitlines()) == 1


def test_pool_members_that_are_not_replicas_of_one_model_are_refused(tmp_path):
    code, output = validate(write_suite(tmp_path, {"kind": "pool", "members": [
        {"kind": "openai", "url": "http://127.0.0.1:9", "model": "model-a-2024-01-01"},
        {"kind": "openai", "url": "http://127.0.0.1:9", "model": "model-b-2024-01-01"}]}))
    assert code == 2
    assert "engine.members: member 1 is not a replica of member 0 (model:" in output


def test_a_member_that_is_not_an_endpoint_or_misspells_a_field_is_one_line(tmp_path):
    code, output = validate(write_suite(tmp_path, {"kind": "pool", "members": [
        {"kind": "local"}]}))
    assert code == 2 and "engine.members[0].kind: an engine of kind 'local' cannot be a pool " \
        "member; members are endpoints: openai, vllm" in output
    code, output = validate(write_suite(tmp_path, {"kind": "pool", "members": [
        {"kind": "openai", "url": "http://127.0.0.1:9", "model": "m", "concurency": 4}]}))
    assert code == 2
    assert re.search(r"suite.yaml:\d+: engine.members\[0\].concurency: unknown field 'concurency' "
                     r"\(did you mean 'concurrency'\?\)", output), output
    code, output = validate(write_suite(tmp_path, {"kind": "openai", "url": [], "model": "m"}))
    assert code == 2 and "engine.url: expected a URL or a list of URLs, got an empty list" in \
        output


# ---- two real vLLM CPU servers ---------------------------------------------------------------

@pytest.fixture(scope="module")
def vllm_pair(default_model, tmp_path_factory):
    """Two vLLM servers for the module, started together, each bound to one core."""
    from harness.engines._vllm_server import VLLMServer, free_port, server_args
    from harness.engines.vllm import VLLM_MODULE, default_vllm_python

    python = default_vllm_python()
    if not Path(python).exists():
        reason = f"no vLLM python at {python}: run scripts/setup_vllm.sh"
        if os.environ.get("HARNESS_REQUIRE_VLLM") == "1":
            pytest.fail(f"HARNESS_REQUIRE_VLLM=1 but {reason}")
        pytest.skip(reason)
    logs = tmp_path_factory.mktemp("vllm-pair-logs")
    servers = []
    for core in ("0", "1"):
        port = free_port()
        args = server_args(default_model.path, host="127.0.0.1", port=port, max_lora_rank=8,
                           max_loras=2, max_model_len=1024, dtype="bfloat16")
        server = VLLMServer([python, "-m", VLLM_MODULE], args, host="127.0.0.1", port=port,
                            log_path=logs / f"server-{core}.log",
                            env={"VLLM_CPU_OMP_THREADS_BIND": core})
        server.start()
        servers.append(server)
    try:
        for server in servers:
            server.wait_healthy(300)
        yield servers
    finally:
        pids = [s.pid for s in servers if s.pid]
        for server in servers:
            server.stop()
        from tests.test_vllm_engine import wait_gone

        assert wait_gone(pids) == [], "a vLLM server outlived the module"


@pytest.fixture(scope="module")
def pair_adapter(default_model, tmp_path_factory):
    from tests.test_vllm_engine import make_adapter

    return make_adapter(default_model.path, tmp_path_factory.mktemp("pool-adapter") / "a", 1)


def finished_requests(server) -> int:
    """What the server itself counts as finished requests (its Prometheus /metrics)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("vllm:request_success_total")))


def loaded_adapters(server) -> set[str]:
    data = httpx.get(f"{server.url}/v1/models", timeout=10).json()["data"]
    return {m["id"] for m in data if m.get("parent")}


@pytest.mark.vllm
def test_two_vllm_servers_share_the_requests_and_load_an_adapter_only_where_it_is_served(
        vllm_pair, default_model, pair_adapter):
    from harness.engines.vllm import VLLMEngine

    before = [finished_requests(s) for s in vllm_pair]
    members = [VLLMEngine(default_model, mode="attached", url=s.url, concurrency=4,
                          mixed_batches=False) for s in vllm_pair]
    pool = PoolEngine(members, members[0].identity())
    # Base requests, then adapter ones: one replica claims the base model, the other the adapter.
    requests = ([ask(f"What is {i} plus {i}?") for i in range(8)]
                + [ask(f"What is {i} plus {i}?", pair_adapter) for i in range(8)])
    try:
        responses = pool.generate(requests)
        loaded = [loaded_adapters(s) for s in vllm_pair]
    finally:
        pool.close()  # unloads the adapter it loaded
    after = [finished_requests(s) for s in vllm_pair]
    served = [a - b for a, b in zip(after, before, strict=True)]
    print(f"\nsplit reported by the servers: {served}; by the pool: {pool.split_line()}")
    assert sum(served) == 16 and min(served) > 0  # both servers answered
    assert [pool.split[0], pool.split[1]] == served  # and the pool counted the same
    assert not any(r.failed for r in responses)
    name = serving_name(pair_adapter)
    for i in range(2):  # loaded exactly where adapter requests went
        assert (name in loaded[i]) == bool(pool.adapters_served[i]), (i, loaded)
    assert not any(name in loaded_adapters(s) for s in vllm_pair)  # and unloaded at close
    assert sum(t.text != b.text for t, b in zip(responses[8:], responses[:8], strict=True)) > 4


@pytest.mark.vllm
def test_a_run_on_two_vllm_servers_completes_every_example_once_when_one_is_killed(
        vllm_pair, tmp_path):
    # Runs last: it kills the second server of the module.
    a, b = vllm_pair
    rows = [{"id": f"q{i}", "instruction": f"Write one sentence about the number {i}.",
             "output": str(i)} for i in range(24)]
    (tmp_path / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = {"name": "pool-kill", "golden_sets": [{"path": "golden.jsonl"}],
             "generation": {"max_tokens": 24},
             "engine": {"kind": "vllm", "mode": "attached", "url": [a.url, b.url],
                        "concurrency": 4, "retries": 1},
             "arms": [{"name": "a", "kind": "prompt"}], "scorers": ["contains"],
             "output": {"runs_dir": "runs", "reports_dir": "reports"}}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    before = finished_requests(b)
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(path)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        responses = tmp_path / "runs" / "pool-kill"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            files = list(responses.glob("*/responses.jsonl"))
            if files and len(read_jsonl_checked(files[0]).records) >= 6:
                break
            time.sleep(0.05)
        served_by_b = finished_requests(b) - before
        b_pid = b.pid
        os.killpg(b_pid, signal.SIGKILL)  # the server and its engine core, mid-run
        output, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 0, output
    assert served_by_b > 0  # it had answered some before it was killed
    assert "endpoint 2/2" in output and "is gone" in output
    (run_dir,) = responses.iterdir()
    run = load_run(run_dir)
    lines = read_jsonl_checked(run_dir / "responses.jsonl").records
    uids = [line["uid"] for line in lines]
    assert run.complete and sorted(uids) == sorted({f"golden/q{i}" for i in range(24)})
    assert not any(line.get("error") for line in lines)
    print(f"\nserver 2 had answered {served_by_b} of 24 when it was killed; the run "
          "finished the other requests on server 1")
