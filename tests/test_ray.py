"""The `ray` engine on a local Ray cluster (2 CPUs, 2 actors running the local engine): the same
outputs as the local engine on the same requests (float32, where batch make-up cannot change
greedy output), responses streamed into the run store as batches finish, a resume after the
driver is killed, and one-line errors for a cluster that does not answer and for Ray missing.

Every run goes through the real CLI in its own session (start_new_session), so every process
Ray starts for it (GCS, raylet, agents, actors) is in that session: the test finds them by
session id and stops each one by PID, even after the driver was killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.runner import run_suite
from harness.spec.suite import load_suite
from harness.store import load_run, read_jsonl_checked
from tests.cli_helpers import session_processes
from tests.conftest import REPO

pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")

N = 24
SUITE = "raysuite"


def write_suite(folder: Path, engine: dict, name: str = SUITE, **output) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"q{i}", "instruction": f"What is {i} plus {i}?", "output": str(2 * i)}
            for i in range(N)]
    (folder / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = {"name": name, "model": {"base": "default", "dtype": "float32"},
             "golden_sets": [{"path": "golden.jsonl"}], "generation": {"max_tokens": 12},
             "engine": engine,
             "arms": [{"name": "a", "kind": "prompt", "system_prompt": "Answer briefly."}],
             "scorers": ["contains"],
             "output": {"runs_dir": "runs", "reports_dir": "reports", **output}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def stop_session(sid: int) -> list[int]:
    """SIGKILL, by PID, every process left in the session; returns the ones that were left."""
    left = session_processes(sid)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(sid) == [], "a Ray process survived SIGKILL"
    return left


def lingering(sid: int, grace_s: float = 20.0) -> list[int]:
    """The session's processes still running `grace_s` after its leader exited."""
    deadline = time.monotonic() + grace_s
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return session_processes(sid)


def harness_run(suite: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def lines_of(run_dir: Path) -> list[dict]:
    return read_jsonl_checked(run_dir / "responses.jsonl").records


def test_a_ray_run_streams_into_the_store_resumes_after_the_driver_is_killed_and_matches_local(
        tmp_path):
    suite = write_suite(tmp_path / "ray", {"kind": "ray", "actors": 2, "cpus_per_actor": 1,
                                           "batch_size": 4})
    runs = tmp_path / "ray" / "runs" / SUITE
    driver = harness_run(suite)
    try:
        deadline = time.monotonic() + 300
        seen = 0
        while time.monotonic() < deadline and driver.poll() is None:
            files = list(runs.glob("*/responses.jsonl"))
            seen = len(read_jsonl_checked(files[0]).records) if files else 0
            if seen:
                break
            time.sleep(0.05)
        assert driver.poll() is None, driver.communicate()[0]
        driver.send_signal(signal.SIGKILL)  # the driver, mid-generation
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(timeout=30)
        left = stop_session(driver.pid)  # what Ray left behind (its agents, by PID)
    print(f"\nkilled the driver after {seen} responses; {len(left)} Ray processes were left "
          "and stopped by PID")
    (run_dir,) = runs.iterdir()
    partial = lines_of(run_dir)
    assert 0 < len(partial) < N  # streamed: written while later batches were generating
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "running"

    again = harness_run(suite)
    try:
        output, _ = again.communicate(timeout=300)
        leaked = lingering(again.pid)
    finally:
        if again.poll() is None:
            again.kill()
        stop_session(again.pid)
    assert again.returncode == 0, output
    assert leaked == [], "the ray engine left processes after a clean run"
    assert "resumed" in output and f"{N} responses" in output
    lines = lines_of(run_dir)
    assert sorted(line["uid"] for line in lines) == [f"golden/q{i}" for i in sorted(
        range(N), key=lambda i: f"golden/q{i}")]  # every example once
    assert lines[:len(partial)] == partial  # what was streamed before the kill was kept
    assert load_run(run_dir).complete

    # The same requests on the local engine (its own cache): the same answers, the same keys.
    local = write_suite(tmp_path / "local", {"kind": "local"}, name="localsuite")
    local_run = load_run(run_suite(load_suite(local)).run_dir)
    ours = {line["uid"]: (line["text"], line["request_key"]) for line in lines}
    theirs = {r.uid: (r.text, r.request_key) for r in local_run.responses.itertuples()}
    assert ours == theirs


def test_a_ray_run_leaves_no_process_behind_and_reports_where_answers_came_from(tmp_path):
    # Same engine in-process: the split over the two actors, and ray.shutdown at close.
    from harness.engines._ray import RayEngine

    suite = load_suite(write_suite(tmp_path, {"kind": "ray", "actors": 2, "batch_size": 2}))
    spec = suite.engine_specs()["default"]
    ctx = suite.engine_context("default")
    engine = spec.build(ctx, spec.resolve(ctx))
    assert isinstance(engine, RayEngine)  # built without starting anything
    engine.close()
    script = (
        "import json, sys\n"
        "from harness.spec.suite import load_suite\n"
        "from harness.types import Request, GenerationParams\n"
        "suite = load_suite(sys.argv[1]); spec = suite.engine_specs()['default']\n"
        "ctx = suite.engine_context('default'); engine = spec.build(ctx, spec.resolve(ctx))\n"
        "requests = [Request(messages=({'role': 'user', 'content': f'Say {i}.'},),\n"
        "                    params=GenerationParams(max_tokens=4)) for i in range(8)]\n"
        "seen = []\n"
        "out = engine.generate(requests, progress=lambda i, r: seen.append(i))\n"
        "engine.close()\n"
        "print('SPLIT', json.dumps({'split': engine.split, 'once': sorted(seen) == "
        "list(range(8)), 'n': len(out)}))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(suite.path)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=300)
        started = time.monotonic()
        leaked = lingering(proc.pid)
        print(f"\nRay's processes were all gone {time.monotonic() - started:.1f} s after exit")
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_session(proc.pid)
    assert proc.returncode == 0, output
    (line,) = [ln for ln in output.splitlines() if ln.startswith("SPLIT ")]
    result = json.loads(line.removeprefix("SPLIT "))
    split = result["split"]
    assert result["once"] and result["n"] == 8, line
    assert sum(split.values()) == 8 and len(split) == 2, line  # both actors answered
    assert leaked == []
    print(f"\nresponses per actor: {split}")


# ---- bad input -------------------------------------------------------------------------------

def run_cli(suite: Path, *args: str, prelude: str = "") -> tuple[int, str, float]:
    code = f"{prelude}\nimport sys\nfrom harness.cli.main import main\nsys.argv = ['harness', " \
           f"*{list(args)!r}, {str(suite)!r}]\nmain()\n"
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_session(proc.pid)
    return proc.returncode, output.strip(), time.monotonic() - started


def test_a_ray_address_where_nothing_listens_is_one_line_and_exit_5(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    suite = write_suite(tmp_path, {"kind": "ray", "address": f"127.0.0.1:{port}"})
    code, output, seconds = run_cli(suite, "run")
    assert code == 5, output
    assert f"engine.address 127.0.0.1:{port}: no Ray cluster answers there" in output
    assert seconds < 60


def test_a_ray_address_that_accepts_but_never_answers_times_out_instead_of_hanging(tmp_path):
    with socket.socket() as silent:  # accepts connections (the kernel does), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        suite = write_suite(tmp_path, {"kind": "ray", "address": f"127.0.0.1:{port}",
                                       "connect_timeout_s": 3})
        code, output, seconds = run_cli(suite, "run")
    assert code == 5, output
    assert "no Ray cluster answered within 3 s (engine.connect_timeout_s)" in output
    assert seconds < 60  # measured: about 10 s, most of it start-up


def test_kind_ray_without_the_extra_installed_is_one_line(tmp_path):
    suite = write_suite(tmp_path, {"kind": "ray"})
    code, output, _ = run_cli(suite, "validate", prelude="import sys; sys.modules['ray'] = None")
    assert code == 2, output
    assert output.endswith("engine.kind: engine kind 'ray' needs Ray Data, which is not "
                           "installed here: pip install 'harness[ray]'"), output
    assert len(output.splitlines()) == 1


def test_a_local_cluster_too_small_for_its_actors_is_refused_at_validation(tmp_path):
    from click.testing import CliRunner

    from harness.cli.main import cli

    suite = write_suite(tmp_path, {"kind": "ray", "actors": 3, "local_cpus": 2})
    result = CliRunner().invoke(cli, ["validate", str(suite)])
    assert result.exit_code == 2
    assert "engine.local_cpus: a local cluster of 2 CPUs cannot hold 3 actors of 1 CPUs" in \
        result.output
