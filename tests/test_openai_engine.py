"""The OpenAI-compatible engine against a real local HTTP server that misbehaves on purpose.

Every fault goes over a real socket (tests/fake_openai_server.py): 429 with Retry-After, 500,
a reset connection, a hang past the timeout, malformed JSON. Bounded retries, then a
per-example error; the run goes on, the report counts the errors, gates above max_error_rate
are inconclusive, and a server that is gone aborts with exit 5.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml
from click.testing import CliRunner

from harness.cli.main import cli
from harness.engines.openai import GenerationAborted, OpenAICompatEngine, is_pinned
from harness.errors import ModelError
from harness.store import load_run
from harness.types import GenerationParams, Request
from tests.fake_openai_server import FakeOpenAIServer

PARAMS = GenerationParams(max_tokens=16)


def ask(text: str) -> Request:
    return Request(messages=({"role": "user", "content": text},), params=PARAMS)


def engine_for(server: FakeOpenAIServer, **settings) -> OpenAICompatEngine:
    settings = {"retries": 2, "request_timeout_s": 5.0, "concurrency": 4, **settings}
    return OpenAICompatEngine(url=server.url, model="fake-model",
                              identity={"kind": "openai", "model": "fake-model"}, **settings)


@pytest.fixture
def server():
    with FakeOpenAIServer() as s:
        yield s


def test_answers_come_back_in_request_order_with_usage_and_latency(server):
    server.set_delay(0.05)  # out-of-order completion under concurrency
    questions = [f"question {i}" for i in range(12)]
    seen = []
    responses = engine_for(server).generate([ask(q) for q in questions],
                                            progress=lambda i, r: seen.append(i))
    assert [r.text for r in responses] == [f"echo: {q}" for q in questions]
    assert sorted(seen) == list(range(12))
    assert all(r.prompt_tokens == 2 and r.completion_tokens == 3 for r in responses)
    assert all(r.latency_s > 0 and r.model == "fake-model" and not r.failed for r in responses)
    assert server.max_in_flight <= 4  # the concurrency bound


def test_429_with_retry_after_is_retried_after_the_server_asked_delay(server):
    server.fail_next(1, ("status", 429, {"Retry-After": "1"}))
    started = time.monotonic()
    (response,) = engine_for(server).generate([ask("rate limited")])
    assert response.text == "echo: rate limited" and not response.failed
    assert time.monotonic() - started >= 1.0  # honoured Retry-After, not the 0.5 s backoff
    assert server.counts["rate limited"] == 2


def test_a_500_is_retried_and_a_persistent_one_becomes_a_per_example_error(server):
    server.fail_when("flaky", ("status", 500), times=1)
    server.fail_when("broken", ("status", 500))
    responses = engine_for(server).generate([ask("flaky"), ask("broken"), ask("fine")])
    assert responses[0].text == "echo: flaky" and not responses[0].failed
    assert responses[1].failed and "HTTP 500 after 3 attempts" in responses[1].error
    assert server.counts["broken"] == 3  # bounded: 1 try + 2 retries
    assert responses[2].text == "echo: fine"


def test_a_reset_connection_is_retried_then_recorded_as_that_example_s_error(server):
    server.fail_when("reset once", "reset", times=1)
    server.fail_when("always reset", "reset")
    responses = engine_for(server).generate([ask("reset once"), ask("always reset"),
                                             ask("fine")])
    assert responses[0].text == "echo: reset once"
    assert responses[1].failed and "no answer after 3 attempts" in responses[1].error
    assert responses[2].text == "echo: fine"


def test_a_hang_past_the_timeout_is_an_error_not_a_hang(server):
    server.fail_when("slow", ("hang", 30))
    started = time.monotonic()
    responses = engine_for(server, request_timeout_s=0.5, retries=1).generate(
        [ask("slow"), ask("fast")])
    assert time.monotonic() - started < 10
    assert responses[0].failed and "Timeout" in responses[0].error
    assert responses[1].text == "echo: fast"


def test_malformed_json_is_retried_then_an_error(server):
    server.fail_when("garbled", "malformed")
    (response,) = engine_for(server).generate([ask("garbled")])
    assert response.failed and "malformed response body" in response.error
    assert server.counts["garbled"] == 3


def test_a_server_that_is_gone_aborts_generation():
    server = FakeOpenAIServer().start()
    engine = engine_for(server, retries=0)
    engine.start()  # reachable at first
    server.stop()
    with pytest.raises(GenerationAborted, match="no request reached the server"):
        engine.generate([ask("a"), ask("b")])


def test_a_model_the_server_does_not_serve_is_refused_before_generating(server):
    engine = OpenAICompatEngine(url=server.url, model="gpt-nope", identity={})
    with pytest.raises(ModelError, match="does not serve model 'gpt-nope'; it serves: fake-model"):
        engine.generate([ask("x")])
    assert server.requests == []


def test_request_rate_limit_holds_requests_past_a_minutes_burst(server):
    """120 a minute: a minute's worth goes at once, then 2 a second."""
    engine = engine_for(server, requests_per_minute=120)
    started = time.monotonic()
    engine.generate([ask(str(i)) for i in range(125)])
    assert len(server.requests) == 125
    assert time.monotonic() - started >= 2.0  # the 5 past the burst waited for the bucket


def test_dated_hosted_model_names_count_as_pinned():
    assert is_pinned("gpt-4o-2024-08-06") and is_pinned("claude-3-5-sonnet-20241022")
    assert is_pinned("gpt-4-0613")
    assert not is_pinned("gpt-4o") and not is_pinned("llama3")


# ---- through the CLI: a suite whose arm runs on the OpenAI-compatible engine -----------------

def write_suite(tmp_path, server_url: str, **extra) -> str:
    golden = tmp_path / "golden.jsonl"
    golden.write_text("".join(json.dumps({"id": f"q{i}", "instruction": f"question {i}",
                                          "output": f"echo: question {i}"}) + "\n"
                              for i in range(10)))
    suite = {
        "name": "remote",
        "golden_sets": [{"path": "golden.jsonl"}],
        "engines": {"remote": {"kind": "openai", "url": server_url, "model": "fake-model",
                               "api_key_env": "FAKE_KEY", "retries": 1,
                               "cost": {"input_per_million_tokens": 2.5,
                                        "output_per_million_tokens": 10.0}}},
        "engine": {"kind": "scripted", "default": "echo: {user}"},
        "arms": [{"name": "local", "kind": "prompt"},
                 {"name": "frontier", "kind": "prompt", "engine": "remote"}],
        "scorers": ["exact_match"],
        "gates": [{"type": "not_worse", "arm": "frontier", "baseline": "local",
                   "max_drop": 0.5}],
        "output": {"runs_dir": "runs", "reports_dir": "reports"},
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return str(path)


def test_failed_examples_are_recorded_counted_and_make_the_gate_inconclusive(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "sk-secret-123")
    with FakeOpenAIServer(api_key="sk-secret-123") as server:
        server.fail_when("question 3", ("status", 500))  # 1 of 10 = 10% > max_error_rate 5%
        result = CliRunner().invoke(cli, ["run", write_suite(tmp_path, server.url)])
    assert result.exit_code == 11, result.output  # INCONCLUSIVE, not a crash, not a REJECT
    (run_dir,) = (tmp_path / "runs" / "remote").iterdir()
    run = load_run(run_dir)
    assert run.complete and len(run.responses) == 20
    failed = run.responses[run.responses["error"].notna()]
    assert list(failed["uid"]) == ["golden/q3"] and list(failed["arm"]) == ["frontier"]
    worst = run.scores[(run.scores["arm"] == "frontier") & (run.scores["uid"] == "golden/q3")]
    assert list(worst["value"]) == [0.0] and "arm error" in worst["explanation"].iloc[0]
    report = next((tmp_path / "reports").glob("remote-*.md")).read_text()
    assert "failed on 10% of its requests" in report
    assert "fake-model" in report and "2.5 / 10" in report  # each arm's model and price
    # The key reached the server, and nowhere else.
    assert "sk-secret-123" not in report
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert b"sk-secret-123" not in path.read_bytes(), path


def test_fail_fast_stops_the_run_at_the_first_failed_request(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "k")
    with FakeOpenAIServer(api_key="k") as server:
        server.fail_when("question 3", ("status", 500))
        result = CliRunner().invoke(cli, ["run", write_suite(tmp_path, server.url,
                                                             fail_fast=True)])
    assert result.exit_code == 5, result.output
    assert "fail_fast" in result.output


def test_max_cost_stops_spending_and_keeps_what_was_generated(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "k")
    with FakeOpenAIServer(api_key="k") as server:
        # 2 prompt + 3 completion tokens a call: 0.000035 per call at these prices.
        result = CliRunner().invoke(cli, ["run", write_suite(tmp_path, server.url),
                                          "--max-cost", "0.0001"])
        assert result.exit_code == 8, result.output
        assert "estimated cost of generating" in result.output
        (run_dir,) = (tmp_path / "runs" / "remote").iterdir()
        run = load_run(run_dir)
        frontier = run.responses[run.responses["arm"] == "frontier"]
        assert 1 <= len(frontier) < 10 and run.manifest.status == "stopped"
        # Run again with room in the budget: it resumes and finishes.
        again = CliRunner().invoke(cli, ["run", write_suite(tmp_path, server.url)])
    assert again.exit_code in (0, 10, 11), again.output
    assert "resumed" in again.output


def test_a_missing_api_key_variable_is_one_line_at_validation(tmp_path, monkeypatch):
    monkeypatch.delenv("FAKE_KEY", raising=False)
    result = CliRunner().invoke(cli, ["validate", write_suite(tmp_path, "http://127.0.0.1:9")])
    assert result.exit_code == 2
    assert "engines.remote.api_key_env: environment variable FAKE_KEY is not set" in \
        result.output


def test_an_unreachable_url_fails_in_seconds_with_exit_5(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "k")
    from tests.fake_openai_server import FakeOpenAIServer as Closed

    closed = Closed().start()
    url = closed.url
    closed.stop()  # nothing listens there any more
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["run", write_suite(tmp_path, url)])
    assert result.exit_code == 5, result.output
    assert "no server answering at" in result.output
    assert time.monotonic() - started < 30
