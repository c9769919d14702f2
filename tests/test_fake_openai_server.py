"""The fake OpenAI server itself: real sockets, real httpx, each fault doing what it says."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fake_openai_server import FakeOpenAIServer


def chat_body(user: str, model: str = "fake-model", system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    return {"model": model, "messages": messages}


@pytest.fixture
def server():
    with FakeOpenAIServer(model="fake-model") as srv:
        yield srv


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=5.0) as c:
        yield c


def test_completion_echoes_last_user_message_and_counts_words_as_usage(server, client):
    body = {"model": "fake-model", "messages": [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "What is the capital of France?"},
    ]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "fake-model"
    assert data["choices"] == [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "echo: What is the capital of France?"}}]
    assert data["usage"] == {"prompt_tokens": 4 + 2 + 1 + 6, "completion_tokens": 7,
                             "total_tokens": 20}
    assert server.requests == [body]
    assert server.counts == {"What is the capital of France?": 1}


def test_models_and_health_endpoints_list_the_served_model(server, client):
    assert client.get("/health").status_code == 200
    assert client.get("/v1/models").json() == {
        "object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "test"}]}


def test_fail_next_returns_429_with_retry_after_then_answers_normally(server, client):
    server.fail_next(1, ("status", 429, {"Retry-After": "1"}))
    first = client.post("/v1/chat/completions", json=chat_body("hi"))
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "1"
    assert "error" in first.json()
    second = client.post("/v1/chat/completions", json=chat_body("hi"))
    assert second.status_code == 200
    assert server.counts == {"hi": 2}


def test_fail_when_faults_only_that_content_for_times_then_behaves_normally(server, client):
    server.fail_when("bad", ("status", 500), times=2)
    codes = [client.post("/v1/chat/completions", json=chat_body(u)).status_code
             for u in ["bad", "good", "bad", "bad"]]
    assert codes == [500, 200, 500, 200]
    assert server.counts == {"bad": 3, "good": 1}


def test_text_fault_replaces_the_reply_content(server, client):
    server.fail_when("q", ("text", "custom reply"))
    data = client.post("/v1/chat/completions", json=chat_body("q")).json()
    assert data["choices"][0]["message"]["content"] == "custom reply"
    assert data["usage"]["completion_tokens"] == 2


def test_reset_fault_makes_the_client_raise_a_transport_error(server, client):
    server.fail_next(1, "reset")
    with pytest.raises(httpx.TransportError):
        client.post("/v1/chat/completions", json=chat_body("hi"))
    assert client.post("/v1/chat/completions", json=chat_body("hi")).status_code == 200


def test_hang_beyond_the_client_timeout_raises_read_timeout_without_blocking_others(server):
    server.fail_when("slow", ("hang", 3.0))
    with httpx.Client(base_url=server.url, timeout=0.3) as c:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/chat/completions", json=chat_body("slow"))
        assert time.monotonic() - started < 2.0
        with ThreadPoolExecutor(2) as pool:
            hanging = pool.submit(c.post, "/v1/chat/completions", json=chat_body("slow"))
            time.sleep(0.05)
            other = c.post("/v1/chat/completions", json=chat_body("fast"))
            assert other.status_code == 200
            assert hanging.exception() is not None


def test_stop_returns_quickly_while_a_handler_hangs_and_then_refuses_connections():
    srv = FakeOpenAIServer().start()
    srv.fail_next(1, ("hang", 30.0))
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=srv.url, timeout=10.0) as c:
        pending = pool.submit(c.post, "/v1/chat/completions", json=chat_body("x"))
        while srv.in_flight == 0:
            time.sleep(0.01)
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 2.0
        assert isinstance(pending.exception(timeout=5), httpx.TransportError)
        with pytest.raises(httpx.ConnectError):
            c.get("/health")


def test_malformed_fault_returns_200_with_a_body_that_is_not_json(server, client):
    server.fail_next(1, "malformed")
    response = client.post("/v1/chat/completions", json=chat_body("hi"))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_unknown_model_gets_404_not_found_error(server, client):
    response = client.post("/v1/chat/completions", json=chat_body("hi", model="other"))
    assert response.status_code == 404
    assert response.json() == {"error": {"message": "The model `other` does not exist.",
                                         "type": "NotFoundError"}}


def test_api_key_is_enforced_and_authorization_headers_are_recorded():
    with FakeOpenAIServer(api_key="sk-test") as srv, httpx.Client(base_url=srv.url) as c:
        missing = c.post("/v1/chat/completions", json=chat_body("hi"))
        wrong = c.post("/v1/chat/completions", json=chat_body("hi"),
                       headers={"Authorization": "Bearer nope"})
        right = c.post("/v1/chat/completions", json=chat_body("hi"),
                       headers={"Authorization": "Bearer sk-test"})
        assert [missing.status_code, wrong.status_code, right.status_code] == [401, 401, 200]
        assert missing.json() == {"error": {"message": "invalid api key"}}
        assert srv.headers_seen == [None, "Bearer nope", "Bearer sk-test"]


def test_max_in_flight_reflects_the_number_of_concurrent_requests(server, client):
    server.set_delay(0.3)
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(
            lambda i: client.post("/v1/chat/completions", json=chat_body(f"q{i}")), range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert server.max_in_flight == 4
    assert server.in_flight == 0
    assert sorted(server.counts) == [f"q{i}" for i in range(8)]


def test_unknown_fault_is_rejected_when_scripted(server):
    with pytest.raises(ValueError):
        server.fail_next(1, ("explode",))
