"""A real local HTTP server that speaks the OpenAI chat-completions API and misbehaves on demand.

For testing an HTTP engine's fault handling (retries, timeouts, per-example errors) against real
sockets instead of mocks. Standard library only.

    with FakeOpenAIServer(model="fake-model") as server:
        server.fail_next(1, ("status", 429, {"Retry-After": "1"}))
        server.fail_when("What is 2 + 3?", "reset", times=2)
        ...  # point the client at server.url (or server.base_url, which ends in /v1)
        assert server.counts["What is 2 + 3?"] == 3

Endpoints: ``GET /health``, ``GET /v1/models``, ``GET /v1/models/<id>`` and
``POST /v1/chat/completions``. With ``api_key`` set, every ``/v1/...`` call needs
``Authorization: Bearer <api_key>`` (``/health`` does not, as in vLLM).

A chat request is handled in this order: invalid JSON body -> 400; recorded (``requests``,
``counts``, ``headers_seen``); wrong or missing key -> 401; ``model`` missing -> 400, not the
served model -> 404; then one scripted fault, if any applies; then the normal answer, after
``set_delay`` seconds. So faults only hit requests that a real server would otherwise answer.

Faults (only ever applied to ``/v1/chat/completions``):

- ``("status", code)`` / ``("status", code, headers)`` / ``("status", code, headers, body)``:
  that status code, those extra headers, and a JSON error body (``body`` replaces the default
  ``{"error": {...}}`` when given; a dict is sent as JSON, a str as is).
- ``"reset"``: the connection is closed with SO_LINGER (1, 0) and no response, so the client
  sees a connection reset.
- ``("hang", seconds)``: wait that long, then answer normally. Other requests are served
  meanwhile, and ``stop()`` cuts the wait short (the client then sees the connection drop).
- ``"malformed"``: 200 with a JSON content type and a body that is not JSON.
- ``("text", reply)``: a normal answer whose content is ``reply`` instead of the echo.

A per-content rule (``fail_when``) takes precedence over the queue of ``fail_next``; a request
that takes a per-content fault does not consume a queued one.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAIServer", "Fault"]

# "reset" | "malformed" | ("status", code[, headers[, body]]) | ("hang", seconds) | ("text", reply)
Fault = Any

MALFORMED_BODY = b'{"choices": ['


def normalize_fault(fault: Fault) -> tuple:
    """Check a fault description and return it as a tuple whose first item is its kind."""
    if fault in ("reset", "malformed"):
        return (fault,)
    if isinstance(fault, (tuple, list)) and fault:
        kind, args = fault[0], tuple(fault[1:])
        if kind in ("reset", "malformed") and not args:
            return (kind,)
        if kind == "status" and 1 <= len(args) <= 3 and isinstance(args[0], int):
            code = args[0]
            headers = dict(args[1]) if len(args) > 1 and args[1] else {}
            body = args[2] if len(args) > 2 else None
            if not 100 <= code <= 599:
                raise ValueError(f"fault status code out of range: {code}")
            return ("status", code, headers, body)
        if kind == "hang" and len(args) == 1 and isinstance(args[0], (int, float)):
            if args[0] < 0:
                raise ValueError(f"hang seconds must be >= 0, got {args[0]}")
            return ("hang", float(args[0]))
        if kind == "text" and len(args) == 1 and isinstance(args[0], str):
            return ("text", args[0])
    raise ValueError(
        f"unknown fault {fault!r}; expected 'reset', 'malformed', ('status', code[, headers"
        f"[, body]]), ('hang', seconds) or ('text', reply)")


def content_text(content: Any) -> str:
    """A message's content as text: a string as is, a list of parts as their joined text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) if isinstance(part, Mapping) else str(part)
            for part in content)
    return str(content)


def last_user_content(messages: list) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def word_count(text: str) -> int:
    return len(text.split())


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # server_close() must not join handlers that are still hanging
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeOpenAIServer) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse-DNS look-up that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Shut down every open client connection (idle keep-alive ones included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        # Clients that time out or give up close their end; writing to it then fails. Normal.
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ValueError)):  # ValueError: I/O on a file we closed
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers and httpx's pool expect
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK wait
    server: _HTTPServer
    server_version = "FakeOpenAI/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request logging
        pass

    # ---- responses ---------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(str(name), str(value))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any,
                   headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), headers=headers)

    def _send_error(self, status: int, message: str, error_type: str | None = None,
                    headers: Mapping[str, str] | None = None) -> None:
        error: dict[str, Any] = {"message": message}
        if error_type is not None:
            error["type"] = error_type
        self._send_json(status, {"error": error}, headers=headers)

    def _reset(self) -> None:
        """Close the connection abruptly: an RST instead of a response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()

    # ---- helpers -----------------------------------------------------------------------------

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _authorized(self) -> bool:
        key = self.server.fake.api_key
        return key is None or self.headers.get("Authorization") == f"Bearer {key}"

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return self._read_chunked()
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError:
            return None

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    # ---- endpoints ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        fake = self.server.fake
        path = self._path()
        fake._record_header(self.headers.get("Authorization"))
        if path == "/health":
            self._send(200, b"", content_type="text/plain")
            return
        if path.startswith("/v1/") and not self._authorized():
            self._send_error(401, "invalid api key")
            return
        if path == "/v1/models":
            self._send_json(200, {"object": "list", "data": [fake._model_card()]})
            return
        if path.startswith("/v1/models/"):
            name = path[len("/v1/models/"):]
            if name == fake.model:
                self._send_json(200, fake._model_card())
            else:
                self._send_error(404, f"The model `{name}` does not exist.", "NotFoundError")
            return
        self._send_error(404, f"no route GET {path}", "NotFoundError")

    def do_POST(self) -> None:
        fake = self.server.fake
        path = self._path()
        body = self._read_body()
        if path != "/v1/chat/completions":
            fake._record_header(self.headers.get("Authorization"))
            if path.startswith("/v1/") and not self._authorized():
                self._send_error(401, "invalid api key")
            else:
                self._send_error(404, f"no route POST {path}", "NotFoundError")
            return
        try:
            payload = json.loads(body or b"")
            if not isinstance(payload, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as exc:
            fake._record_header(self.headers.get("Authorization"))
            self._send_error(400, f"invalid JSON body: {exc}", "BadRequestError")
            return
        messages = payload.get("messages")
        messages = messages if isinstance(messages, list) else []
        user = last_user_content(messages)
        fake._enter_chat(payload, user, self.headers.get("Authorization"))
        try:
            self._chat(payload, messages, user)
        finally:
            fake._leave_chat()

    def _chat(self, payload: dict, messages: list, user: str) -> None:
        fake = self.server.fake
        if not self._authorized():
            self._send_error(401, "invalid api key")
            return
        model = payload.get("model")
        if model is None:
            self._send_error(400, "you must provide a model parameter", "BadRequestError")
            return
        if model != fake.model:
            self._send_error(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        if payload.get("stream"):
            self._send_error(400, "the fake server does not support stream=true",
                             "BadRequestError")
            return

        fault = fake._take_fault(user)
        text = "echo: " + user
        if fault is not None:
            kind = fault[0]
            if kind == "status":
                _, code, headers, error_body = fault
                if error_body is None:
                    self._send_error(code, f"injected fault: HTTP {code}", "FakeServerError",
                                     headers=headers)
                elif isinstance(error_body, (bytes, str)):
                    raw = error_body.encode("utf-8") if isinstance(error_body, str) else error_body
                    self._send(code, raw, headers=headers)
                else:
                    self._send_json(code, error_body, headers=headers)
                return
            if kind == "reset":
                self._reset()
                return
            if kind == "malformed":
                self._send(200, MALFORMED_BODY)
                return
            if kind == "hang":
                if fake._stopping.wait(fault[1]):
                    self._reset()  # stopped while hanging: drop the connection
                    return
            elif kind == "text":
                text = fault[1]

        delay = fake.delay
        if delay > 0 and fake._stopping.wait(delay):
            self._reset()
            return
        prompt_tokens = sum(word_count(content_text(m.get("content")))
                            for m in messages if isinstance(m, Mapping))
        completion_tokens = word_count(text)
        self._send_json(200, {
            "id": f"chatcmpl-fake-{next(fake._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": fake.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        })


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on 127.0.0.1 (an OS-picked port), in a daemon thread.

    Use as a context manager, or call ``start()`` and ``stop()``. All scripting methods and
    record properties are thread-safe; the record properties return snapshots (copies).
    """

    def __init__(self, model: str = "fake-model", api_key: str | None = None,
                 delay: float = 0.0, host: str = "127.0.0.1") -> None:
        self.model = model
        self.api_key = api_key
        self.host = host
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._delay = float(delay)
        self._queue: list[tuple] = []  # faults for the next chat requests, in order
        self._rules: dict[str, list] = {}  # user content -> [fault, remaining or None]
        self._requests: list[dict] = []
        self._counts: dict[str, int] = {}
        self._headers_seen: list[str | None] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- life cycle --------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAIServer already started")
        self._httpd = _HTTPServer((self.host, 0), self)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fake-openai-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections (hanging handlers included), join the thread."""
        httpd = self._httpd
        if httpd is None or self._stopping.is_set():
            return
        self._stopping.set()  # wakes handlers waiting in a hang or a delay
        httpd.shutdown()
        httpd.drop_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without ``/v1``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``url + "/v1"``, the form the openai SDK's ``base_url`` takes."""
        return self.url + "/v1"

    # ---- scripting ---------------------------------------------------------------------------

    def fail_next(self, n: int, fault: Fault) -> None:
        """Apply ``fault`` to the next ``n`` chat requests (after any already queued)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        normalized = normalize_fault(fault)
        with self._lock:
            self._queue.extend([normalized] * n)

    def fail_when(self, user_content: str, fault: Fault, times: int | None = None) -> None:
        """Apply ``fault`` to chat requests whose last user message is ``user_content``.

        ``times=None``: every such request; otherwise the next ``times`` of them, after which
        they are answered normally. Replaces an earlier rule for the same content.
        """
        if times is not None and times < 0:
            raise ValueError(f"times must be None or >= 0, got {times}")
        normalized = normalize_fault(fault)
        with self._lock:
            if times == 0:
                self._rules.pop(user_content, None)
            else:
                self._rules[user_content] = [normalized, times]

    def clear_faults(self) -> None:
        """Forget every scripted fault."""
        with self._lock:
            self._queue.clear()
            self._rules.clear()

    def set_delay(self, seconds: float) -> None:
        """Every normal chat answer (echo, text and after a hang) waits this long first."""
        if seconds < 0:
            raise ValueError(f"delay must be >= 0, got {seconds}")
        with self._lock:
            self._delay = float(seconds)

    @property
    def delay(self) -> float:
        with self._lock:
            return self._delay

    def reset_records(self) -> None:
        """Empty ``requests``, ``counts``, ``headers_seen`` and ``max_in_flight``."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
            self._headers_seen.clear()
            self._max_in_flight = self._in_flight

    # ---- records -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict]:
        """Parsed JSON bodies of the chat requests received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def counts(self) -> dict[str, int]:
        """Last user message content -> chat requests received with it (retries included)."""
        with self._lock:
            return dict(self._counts)

    @property
    def headers_seen(self) -> list[str | None]:
        """The Authorization header of every request received (any endpoint), None if absent."""
        with self._lock:
            return list(self._headers_seen)

    @property
    def in_flight(self) -> int:
        """Chat requests being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most chat requests that were being handled at the same time."""
        with self._lock:
            return self._max_in_flight

    # ---- used by the handler -----------------------------------------------------------------

    def _model_card(self) -> dict:
        return {"id": self.model, "object": "model", "owned_by": "test"}

    def _record_header(self, authorization: str | None) -> None:
        with self._lock:
            self._headers_seen.append(authorization)

    def _enter_chat(self, payload: dict, user: str, authorization: str | None) -> None:
        with self._lock:
            self._requests.append(payload)
            self._counts[user] = self._counts.get(user, 0) + 1
            self._headers_seen.append(authorization)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave_chat(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _take_fault(self, user: str) -> tuple | None:
        with self._lock:
            rule = self._rules.get(user)
            if rule is not None:
                fault, remaining = rule
                if remaining is not None:
                    if remaining <= 1:
                        del self._rules[user]
                    else:
                        rule[1] = remaining - 1
                return fault
            if self._queue:
                return self._queue.pop(0)
            return None
