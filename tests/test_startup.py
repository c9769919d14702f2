"""No fixed cost around the engine: `harness run` imports only what a run needs before its first
request, and what the end of the run needs while the engine generates (harness/preload.py).

Checked by module, never by the clock: what is in sys.modules when the first request leaves.
bench/bench_overhead.py measures the seconds.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.cli_helpers import run_python
from tests.fake_openai_server import FakeOpenAIServer

# Not needed by a run on an attached OpenAI-compatible server before its first request.
HEAVY_BEFORE_FIRST_REQUEST = (
    "torch", "transformers", "peft", "trl", "bitsandbytes", "sentence_transformers",
    "qdrant_client", "sklearn", "numpy", "pandas", "pyarrow", "scipy", "matplotlib", "jinja2",
    "nltk", "rouge_score",
)
# Never needed by such a run, not even at its end (scipy: see harness/distributions.py).
NEVER = ("torch", "transformers", "peft", "trl", "bitsandbytes", "sentence_transformers",
         "qdrant_client", "sklearn", "scipy")

# Runs `harness run` in this process, noting sys.modules when the first chat request is sent
# and which modules the preloading thread imported.
PROBE = """
import json, sys
import httpx

seen = {}
send = httpx.AsyncClient.send

async def noting_send(self, request, **kwargs):
    if "first" not in seen and request.url.path.endswith("/chat/completions"):
        seen["first"] = sorted(sys.modules)
    return await send(self, request, **kwargs)

httpx.AsyncClient.send = noting_send

import harness.preload as preload
finish = preload.finish

def noting_finish():
    seen["preloaded"] = list(finish())
    return seen["preloaded"]

preload.finish = noting_finish
from harness.cli.main import cli

try:
    cli(["run", sys.argv[1]])
except SystemExit as exc:
    seen["exit"] = exc.code
seen["end"] = sorted(sys.modules)
print("PROBE " + json.dumps(seen))
"""


def write_suite(tmp_path, url: str, n: int = 6) -> str:
    (tmp_path / "golden.jsonl").write_text("".join(
        json.dumps({"id": f"q{i}", "instruction": f"question {i}",
                    "output": f"echo: question {i}"}) + "\n" for i in range(n)))
    suite = {
        "name": "startup",
        "golden_sets": [{"path": "golden.jsonl"}],
        "engines": {"remote": {"kind": "openai", "url": url, "model": "fake-model-2024-01-01",
                               "concurrency": 4}},
        "engine": {"kind": "scripted", "default": "{user}"},
        "arms": [{"name": "remote", "kind": "prompt", "engine": "remote"},
                 {"name": "echo", "kind": "prompt"}],
        "scorers": [{"name": "f1", "kind": "token_f1", "primary": True}, "exact_match"],
        "gates": [{"type": "beats", "arm": "remote", "baseline": "echo",
                   "min_win_rate_lower": 0.5},
                  {"type": "threshold", "arm": "remote", "scorer": "f1", "min": 0.5}],
        "output": {"runs_dir": "runs", "reports_dir": "reports"},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return str(path)


def probe(suite: str) -> dict:
    out = run_python(PROBE, suite, timeout=180)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def tops(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_a_run_on_an_attached_server_imports_nothing_heavy_before_its_first_request(tmp_path):
    with FakeOpenAIServer(model="fake-model-2024-01-01") as server:
        seen = probe(write_suite(tmp_path, server.url))
        assert len(server.requests) == 6
    assert seen["exit"] in (0, 10, 11), seen.get("exit")
    before = tops(seen["first"])
    assert not before & set(HEAVY_BEFORE_FIRST_REQUEST), sorted(before &
                                                                set(HEAVY_BEFORE_FIRST_REQUEST))
    # Only the kinds the suite names are imported (harness/registry.py), and no retrieval for
    # a suite without corpora.
    unused = {"harness.engines.vllm", "harness.engines.local", "harness.engines.ray",
              "harness.engines.pool", "harness.arms.rag", "harness.arms.tuned",
              "harness.judges.rubric", "harness.judges.pairwise", "harness.retrieval.service",
              "harness.retrieval.index"}
    assert {"harness.engines.openai", "harness.engines.scripted"} <= set(seen["first"])
    assert not unused & set(seen["first"]), sorted(unused & set(seen["first"]))
    # The end of the run was imported while generating, and the run still reported.
    assert "harness.report" in seen["preloaded"] and "pandas" in seen["preloaded"]
    assert not tops(seen["end"]) & set(NEVER), sorted(tops(seen["end"]) & set(NEVER))
    reports = list((tmp_path / "reports").glob("startup-*.md"))
    assert len(reports) == 1 and "remote" in reports[0].read_text()
    assert list((tmp_path / "reports").glob("startup-*/forest.png"))


def test_the_command_exits_with_its_code_after_atexit_handlers_and_other_threads(tmp_path):
    """harness.cli.main.main skips the interpreter's teardown, nothing an exit must do."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nunknown_field: 1\n")
    done = tmp_path / "thread-done"
    script = (
        "import atexit, sys, threading, time\n"
        "atexit.register(lambda: print('atexit ran', flush=False))\n"
        "def late():\n"
        "    time.sleep(0.3)\n"
        f"    open({str(done)!r}, 'w').write('yes')\n"
        "threading.Thread(target=late).start()\n"
        "from harness.cli.main import main\n"
        "sys.argv = ['harness', 'validate', sys.argv[1]]\n"
        "main()\n")
    out = run_python(script, str(bad), timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error:") and "golden_sets" in out.stderr
    assert out.stdout.strip().endswith("atexit ran")  # handlers ran, and stdout was flushed
    assert done.read_text() == "yes"  # a non-daemon thread was waited for
    for code, status, stderr in (("None", 0, ""), ("3", 3, ""), ("'bye'", 1, "bye")):
        out = run_python("from harness.cli.main import "
                              f"exit_without_teardown as e; e({code})", timeout=60)
        assert (out.returncode, out.stderr.strip()) == (status, stderr)



def test_exiting_does_not_wait_forever_on_an_idle_thread_pool():
    # An open ThreadPoolExecutor's idle workers are non-daemon threads that only Python's exit
    # hook wakes; joining them by hand would hang.
    script = ("from concurrent.futures import ThreadPoolExecutor\n"
              "pool = ThreadPoolExecutor(2)\n"
              "pool.submit(int).result()\n"
              "from harness.cli.main import exit_without_teardown\n"
              "exit_without_teardown(3)\n")
    out = run_python(script, timeout=60)
    assert out.returncode == 3, out.stderr


def test_preloading_waits_for_an_engine_and_stops_when_none_generates():
    script = (
        "import sys, harness.preload as p\n"
        "p.arm()\n"
        "assert p.finish() == ()\n"  # nothing generated: stopped, nothing imported
        "assert 'matplotlib' not in sys.modules and 'pandas' not in sys.modules\n"
        "print('ok')\n")
    out = run_python(script, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_preloading_imports_the_end_of_the_run_once_an_engine_generates():
    script = (
        "import sys, harness.preload as p\n"
        "assert p.finish() == ()\n"  # never armed: nothing to wait for
        "p.arm(); p.arm()\n"  # once per process
        "p.generating()\n"
        "done = p.finish()\n"
        "assert set(done) >= {'pandas', 'harness.cli.finish', 'harness.report'}, done\n"
        "assert all(m in sys.modules for m in done)\n"
        "assert p.finish() == done\n"
        "print('ok')\n")
    out = run_python(script, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr



def test_the_local_engines_cache_identity_is_predicted_without_importing_torch():
    # A fully cached re-run on the local engine resolves its identity (the cache keys) and
    # nothing else: torch's import (about a second) is for generating (harness/devices.py).
    from harness.devices import gpu_driver_present

    if gpu_driver_present():
        pytest.skip("with a GPU driver, `auto` asks torch which device there is")
    script = ("import sys\n"
              "from harness.runner import resolve_engines\n"
              "from harness.spec.suite import load_suite\n"
              "identity = resolve_engines(load_suite('suites/demo.yaml', "
              "require_adapters=False))['default'].identity\n"
              "print(identity['kind'], identity['attention'], 'torch' in sys.modules)\n")
    done = run_python(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["local", "shared-prefix", "False"]
