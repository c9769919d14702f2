"""The `openai` engine kind: any server speaking the OpenAI chat-completions API.

A hosted frontier model, vLLM, TGI, a llama.cpp server, Ollama: attached by URL, the API key
read from a named environment variable (only the variable's name is configuration; the key
never reaches manifests, logs, reports or cache keys). The vLLM engine (vllm.py) is this engine
plus what is vLLM's own: a managed server, LoRA load/unload, the rank check.

Sending: at most `concurrency` requests in flight, each with a timeout; optional request and
token rate limits. A request that fails with 408/429/5xx, a connection error, a timeout or a
body that is not the API's JSON is retried with exponential backoff (honouring Retry-After)
up to `retries` times; after that it is an arm error for that example: a Response with `error`
set, recorded and scored as the worst value, while the run goes on. A server that is gone
(every request so far failed to connect, or `abort_after` in a row did) aborts with
GenerationAborted (exit 5), after every finished response was handed to `progress`.

Constrained decoding: a request's `response_format` with a JSON Schema is sent as the API's
structured outputs (`response_format: {type: json_schema, json_schema: {name, schema, strict:
true}}`); the chat-completions API has no regex, so a regex is refused at load (a vLLM server
takes one through the vllm engine kind, `mode: attached`).

HTTP client: httpx (async), not the openai SDK: the SDK's own retry loop would hide a dead
server behind its backoff and it has no LoRA endpoints; one client serves both engines.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import functools
import os
import random
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from harness import preload
from harness.engines import ENGINES
from harness.engines.base import Engine, EngineContext, EngineSpec, ProgressCallback, ResolvedEngine
from harness.errors import ConfigError, EngineError, ModelError
from harness.types import Request, Response, ResponseFormat, stable_hash

if TYPE_CHECKING:
    import ssl

    import httpx

TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 120.0
# Hosted model names pinned to a version: a date (gpt-4o-2024-08-06, claude-3-5-sonnet-20241022)
# or a four-digit snapshot (gpt-4-0613). Anything else can change under the same name.
_PINNED = re.compile(r"(\d{4}-\d{2}-\d{2}|\d{8}|-\d{4}$|@\d{8})")


def is_pinned(model: str) -> bool:
    return bool(_PINNED.search(model))


def api_base(url: str) -> str:
    """The server root: 'http://h:p/v1/' and 'http://h:p' both give 'http://h:p'."""
    return url.rstrip("/").removesuffix("/v1")


def api_key_from_env(name: str | None, where: str = "engine.api_key_env") -> str | None:
    # Only the variable's name is configuration; the key itself never leaves this process.
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{where}: environment variable {name} is not set")
    return value


@ENGINES.register("openai")
class OpenAIEngineSpec(EngineSpec):
    kind: Literal["openai"]
    url: str | list[str] = Field(description="base URL of the server (with or without /v1); "
                                 "a list of URLs is a pool of replicas of one model "
                                 "(docs/scale.md), `concurrency` then bounds each")
    model: str = Field(description="the model name the server serves")
    api_key_env: str | None = Field(None, description="name of the env variable with the API "
                                    "key (the key itself never goes into a file)")
    provider: str | None = Field(None, description="who serves it (openai, together, ...): part "
                                 "of the cache identity; default 'openai-compatible'")
    weights: str | None = Field(None, description="self-hosted: a local folder with the weights "
                                "the server serves; its content hash becomes the identity")
    concurrency: int = Field(8, ge=1, description="requests in flight at once")
    request_timeout_s: float = Field(120.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    retries: int = Field(4, ge=0, description="retries of a failed request (429, 5xx, network)")
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0, description="prompt + max_tokens, "
                                            "estimated before sending")
    abort_after: int = Field(8, ge=1, description="consecutive connection failures that mean "
                             "the server is gone (abort, exit 5)")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="sent with every "
                                       "request (part of the cache identity)")

    output_constraints: ClassVar[frozenset[str]] = frozenset({"json_schema"})
    poolable: ClassVar[bool] = True  # may be a member of a `kind: pool` engine

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | list[str]) -> str | list[str]:
        return check_urls(url)

    @property
    def urls(self) -> list[str]:
        return [self.url] if isinstance(self.url, str) else list(self.url)

    def _weights_model(self, ctx: EngineContext) -> Any:
        if not self.weights:
            return None
        from harness.models import resolve_model

        return resolve_model(self.weights, ctx.base_dir)

    def resolve(self, ctx: EngineContext) -> ResolvedEngine:
        weights = self._weights_model(ctx)
        provider = self.provider or ("self-hosted" if weights else "openai-compatible")
        identity = {"kind": "openai", "provider": provider, "model": self.model,
                    "weights": weights.identity if weights else None,
                    "extra_body": stable_hash(self.extra_body)[:16] if self.extra_body else None}
        warnings = []
        if weights is None and not is_pinned(self.model):
            warnings.append(f"engine '{ctx.name}': model '{self.model}' is not pinned to a dated "
                            "version; hosted models change under the same name, so cached "
                            "answers may come from an older model")
        return ResolvedEngine(ctx.name, "openai", identity, self.model, weights,
                              tuple(warnings), {"provider": provider, "pinned": is_pinned(
                                  self.model) or weights is not None})

    def problems(self, ctx: EngineContext) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        if self.api_key_env and not os.environ.get(self.api_key_env):
            out.append((("api_key_env",), f"environment variable {self.api_key_env} is not set"))
        if self.weights:
            try:
                self._weights_model(ctx)
            except ModelError as exc:
                out.append((("weights",), exc.message, ModelError))
        return out

    def build(self, ctx: EngineContext, resolved: ResolvedEngine) -> Engine:
        return pooled(self.endpoints(ctx, resolved), resolved, ctx)

    def endpoints(self, ctx: EngineContext, resolved: ResolvedEngine) -> list[OpenAICompatEngine]:
        """One engine per URL (a pool's members); each has its own concurrency bound."""
        api_key = api_key_from_env(self.api_key_env, f"engine '{ctx.name}': api_key_env")
        return [OpenAICompatEngine(
            url=url, model=self.model, identity=resolved.identity, api_key=api_key,
            concurrency=self.concurrency, request_timeout_s=self.request_timeout_s,
            connect_timeout_s=self.connect_timeout_s, retries=self.retries,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute, abort_after=self.abort_after,
            extra_body=self.extra_body) for url in self.urls]


def ssl_context(url: str) -> ssl.SSLContext:
    """The TLS context of a client of the server at `url`, made once per process and shared.

    httpx makes one per client, loading the CA bundle each time (40-60 ms on 2 CPU cores,
    before the first request). For an https:// URL, or any URL when a proxy is configured,
    this is httpx's default context (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR). A plain
    http:// URL without a proxy never does TLS (the clients follow no redirects): its context
    has no CA at all, so TLS through it, were it ever attempted, would fail verification
    instead of trusting anything.
    """
    from urllib.request import getproxies  # what httpx reads for its proxies

    if url.startswith("http://") and not getproxies():
        return _plain_http_context()
    return _default_ssl_context()


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()


@functools.cache
def _plain_http_context() -> ssl.SSLContext:
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates; trusts no CA


def check_urls(url: str | list[str]) -> str | list[str]:
    """An http(s) URL, or a non-empty list of them (a pool of replicas)."""
    for one in [url] if isinstance(url, str) else url:
        if not re.match(r"^https?://[^/\s]+", one):
            raise ValueError(f"expected an http:// or https:// URL, got {one!r}")
    if isinstance(url, list) and not url:
        raise ValueError("expected a URL or a list of URLs, got an empty list")
    return url


def pooled(endpoints: Sequence[Engine], resolved: ResolvedEngine, ctx: EngineContext) -> Engine:
    """One endpoint as it is; several as a pool of replicas with the endpoints' one identity."""
    if len(endpoints) == 1:
        return endpoints[0]
    from harness.engines._pool import PoolEngine

    return PoolEngine(endpoints, resolved.identity, name=ctx.name)  # type: ignore[arg-type]


class GenerationAborted(EngineError):
    """Generation stopped part-way; `partial` maps request index -> finished Response."""

    def __init__(self, message: str, partial: dict[int, Response]):
        super().__init__(message)
        self.partial = partial


class _Gone(Exception):
    """The backend is gone (dead server, nothing answers): abort the whole generation."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _Failed(Exception):
    """One request failed for good (after its retries)."""

    def __init__(self, message: str, transport: bool):
        super().__init__(message)
        self.message = message
        self.transport = transport  # never reached the server (connection refused/reset...)


class RateLimiter:
    """A token bucket: `rate` units per second, bursts up to one minute's worth."""

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = per_minute
        self.level = per_minute
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, amount: float) -> None:
        amount = min(amount, self.capacity)  # a request bigger than a minute's budget still goes
        async with self._lock:
            while True:
                now = time.monotonic()
                self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
                self.updated = now
                if self.level >= amount:
                    self.level -= amount
                    return
                await asyncio.sleep((amount - self.level) / self.rate)


class OpenAICompatEngine(Engine):
    kind = "openai"
    output_constraints: ClassVar[frozenset[str]] = OpenAIEngineSpec.output_constraints

    def __init__(self, *, url: str, model: str, identity: dict[str, Any],
                 api_key: str | None = None, concurrency: int = 8,
                 request_timeout_s: float = 120.0, connect_timeout_s: float = 10.0,
                 retries: int = 4, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, abort_after: int = 8,
                 extra_body: dict[str, Any] | None = None):
        if concurrency < 1:
            raise ConfigError(f"engine.concurrency must be at least 1, got {concurrency}")
        self._url = api_base(url) if url else None
        self.model = model
        self._identity = identity
        self._api_key = api_key
        self.concurrency = concurrency
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retries = retries
        self._rpm = requests_per_minute
        self._tpm = tokens_per_minute
        self.abort_after = abort_after
        self._extra_body = dict(extra_body or {})
        self._closed = False
        self._started = False
        self.served_models: list[dict[str, Any]] = []

    # ---- Engine interface --------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        # Never the URL or port: they change per replica while the outputs do not.
        return dict(self._identity)

    def generate(self, requests: Sequence[Request],
                 progress: ProgressCallback | None = None) -> list[Response]:
        if self._closed:
            raise EngineError(f"the {self.kind} engine was closed; create a new one")
        if not requests:
            return []
        self.check_constraints(requests)
        self.start()
        names = self.model_names(requests)
        return run_coroutine(self._generate_all(requests, names, progress))

    def close(self) -> None:
        self._closed = True

    # ---- hooks for subclasses (vLLM) ---------------------------------------------------------

    def start(self) -> None:
        """Check the server answers and serves the model (once)."""
        if self._started:
            return
        self.served_models = self.list_models()
        self.check_served(self.served_models)
        self._started = True

    def check_served(self, models: list[dict[str, Any]]) -> None:
        ids = [str(m.get("id")) for m in models]
        if models and self.model not in ids:
            raise ModelError(f"the server at {self.base_url} does not serve model "
                             f"'{self.model}'; it serves: {', '.join(ids) or 'nothing'}")

    def check_constraints(self, requests: Sequence[Request]) -> None:
        """Refuse, before sending anything, a constraint this API cannot carry (the suite's
        load-time check says the same; this guards direct callers)."""
        kinds = {r.response_format.kind for r in requests if r.response_format is not None}
        unsupported = sorted(kinds - self.output_constraints)
        if unsupported:
            supported = ", ".join(sorted(self.output_constraints)) or "none"
            raise ConfigError(f"the {self.kind} engine cannot constrain output to a "
                              f"{unsupported[0]}; it supports: {supported}")

    def model_names(self, requests: Sequence[Request]) -> list[str]:
        if any(r.adapter is not None for r in requests):
            raise ConfigError(f"the {self.kind} engine cannot serve LoRA adapters")
        return [self.model] * len(requests)

    def request_body(self, request: Request, model_name: str) -> dict[str, Any]:
        params = request.params
        body: dict[str, Any] = {
            "model": model_name,
            "messages": [dict(m) for m in request.messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        body.update(self._extra_body)
        if request.response_format is not None:
            body.update(self.constraint_fields(request.response_format))
        return body

    def constraint_fields(self, rf: ResponseFormat) -> dict[str, Any]:
        """The body fields that carry a constraint (OpenAI's structured outputs)."""
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": rf.name, "schema": rf.json_schema, "strict": True}}}

    def waves(self, requests: Sequence[Request]) -> list[list[int]]:
        """Groups of request indexes sent one group after the other (default: all at once)."""
        return [list(range(len(requests)))]

    async def watch(self) -> None:
        """Raise _Gone when the backend dies (a managed server); default: never returns."""
        await asyncio.Event().wait()

    def gone_message(self) -> str | None:
        """Why the backend is gone, if it is (a managed server's exit code and log tail)."""
        return None

    # ---- HTTP --------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._url:
            return self._url
        raise EngineError(f"the {self.kind} engine has no URL yet")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def scrub(self, text: str) -> str:
        """A server's error text without the API key in it (some servers echo what they got)."""
        return text.replace(self._api_key, "***") if self._api_key else text

    def error_text(self, response: httpx.Response) -> str:
        return self.scrub(error_text(response))

    def list_models(self) -> list[dict[str, Any]]:
        """GET /v1/models: what the server serves (a timeout, not a hang, when unreachable)."""
        import httpx

        try:
            with httpx.Client(headers=self.headers(), verify=ssl_context(self.base_url),
                              timeout=httpx.Timeout(30.0, connect=self.connect_timeout_s)
                              ) as client:
                response = client.get(f"{self.base_url}/v1/models")
        except httpx.HTTPError as exc:
            raise EngineError(f"no server answering at {self.base_url}: "
                              f"{type(exc).__name__}: {exc}") from None
        if response.status_code in (401, 403):
            raise ConfigError(f"the server at {self.base_url} refused the API key "
                              f"({response.status_code}): {self.error_text(response)}")
        if response.status_code == 404:
            return []  # some servers have no model list; the first request will tell
        if response.status_code != 200:
            raise EngineError(f"GET {self.base_url}/v1/models failed ({response.status_code}): "
                              f"{self.error_text(response)}")
        try:
            data = response.json().get("data", [])
        except (ValueError, AttributeError):
            raise EngineError(f"GET {self.base_url}/v1/models did not return the API's "
                              "JSON") from None
        return [m for m in data if isinstance(m, dict)]

    # ---- generation --------------------------------------------------------------------------

    def async_client(self) -> httpx.AsyncClient:
        """The HTTP client of a run on this endpoint: as many connections as requests in
        flight, its timeouts, headers (the API key) and TLS settings."""
        import httpx

        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=self.concurrency)
        timeout = httpx.Timeout(self.request_timeout_s, connect=self.connect_timeout_s)
        return httpx.AsyncClient(headers=self.headers(), limits=limits, timeout=timeout,
                                 verify=ssl_context(self.base_url))

    async def _generate_all(self, requests: Sequence[Request], names: Sequence[str],
                            progress: ProgressCallback | None) -> list[Response]:
        done: dict[int, Response] = {}
        state = {"consecutive": 0, "transport_failures": 0, "successes": 0}
        limit = asyncio.Semaphore(self.concurrency)
        rpm = RateLimiter(self._rpm) if self._rpm else None
        tpm = RateLimiter(self._tpm) if self._tpm else None
        async with self.async_client() as client:

            async def one(index: int) -> None:
                request = requests[index]
                async with limit:
                    if rpm is not None:
                        await rpm.acquire(1)
                    if tpm is not None:
                        await tpm.acquire(estimate_tokens(request))
                    try:
                        response = await self._generate_one(client, request, names[index])
                    except _Failed as failure:
                        response = Response(text="", finish_reason="error",
                                            error=failure.message)
                        if failure.transport:
                            state["consecutive"] += 1
                            state["transport_failures"] += 1
                            if state["consecutive"] >= self.abort_after:
                                raise _Gone(f"{state['consecutive']} requests in a row could "
                                            f"not reach the server at {self.base_url}: "
                                            f"{failure.message}") from None
                    else:
                        state["consecutive"] = 0
                        state["successes"] += 1
                done[index] = response
                if progress is not None:
                    progress(index, response)

            for wave in self.waves(requests):
                tasks = [asyncio.create_task(one(i)) for i in wave]
                watchdog = asyncio.create_task(self.watch())
                try:
                    await first_failure(tasks, watchdog)
                except _Gone as gone:
                    message = self.gone_message() or gone.message
                    raise GenerationAborted(
                        f"{message} [{len(done)}/{len(requests)} responses finished before]",
                        done) from None
                finally:
                    for task in [*tasks, watchdog]:
                        task.cancel()
                    await asyncio.gather(*tasks, watchdog, return_exceptions=True)
        if state["successes"] == 0 and state["transport_failures"] == len(requests):
            # Every request failed to connect: the server is gone, not these examples.
            raise GenerationAborted(f"no request reached the server at {self.base_url}: "
                                    f"{done[0].error if done else 'no response'}", done)
        return [done[i] for i in range(len(requests))]

    async def _generate_one(self, client: httpx.AsyncClient, request: Request,
                            model_name: str) -> Response:
        import httpx

        body = self.request_body(request, model_name)
        url = f"{self.base_url}/v1/chat/completions"
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt + 1 >= attempts
            started = time.perf_counter()
            retry_after: float | None = None
            try:
                response = await client.post(url, json=body, extensions=(
                    {} if preload.started() else {"trace": _note_request_sent}))
            except httpx.TransportError as exc:
                if (gone := self.gone_message()) is not None:
                    raise _Gone(gone) from None
                why = self.scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
                if last:
                    raise _Failed(f"no answer after {attempts} attempts: {why}",
                                  transport=not isinstance(exc, httpx.TimeoutException)
                                  or isinstance(exc, httpx.ConnectTimeout)) from None
            else:
                status = response.status_code
                if status == 200:
                    try:
                        return parse_completion(response.json(), time.perf_counter() - started)
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                        why = f"malformed response body: {response.text[:120]!r}"
                        if last:
                            raise _Failed(f"{why} (after {attempts} attempts)",
                                          transport=False) from None
                elif status in (401, 403):
                    raise _Gone(f"the server at {self.base_url} refused the API key ({status}): "
                                f"{self.error_text(response)}")
                elif status not in TRANSIENT_STATUS or last:
                    tries = f" after {attempts} attempts" if status in TRANSIENT_STATUS else ""
                    raise _Failed(f"HTTP {status}{tries}: {self.error_text(response)}",
                                  transport=False)
                else:
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
            await asyncio.sleep(max(backoff(attempt), retry_after or 0.0))
        raise AssertionError("unreachable")


async def _note_request_sent(event: str, info: Any) -> None:
    """httpcore's trace of a request: once one request is on the wire, `harness run` may
    import what its end needs (harness/preload.py) without delaying the first request."""
    if event.endswith("send_request_body.complete"):
        preload.generating()


async def first_failure(tasks: list[asyncio.Task[None]], watchdog: asyncio.Task[None]) -> None:
    """Wait for every task; raise the first exception any task (or the watchdog) raises."""
    waiting: set[asyncio.Task[None]] = set(tasks)
    watched = waiting | {watchdog}
    while waiting:
        # FIRST_COMPLETED, not FIRST_EXCEPTION: the latter also waits for the endless watchdog.
        finished, watched = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            exc = task.exception()
            if exc is not None:
                raise exc
        waiting -= finished


def parse_completion(data: dict[str, Any], latency: float) -> Response:
    choice = data["choices"][0]
    usage = data.get("usage") or {}
    message = choice.get("message") or {}
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise TypeError("message content is not text")
    return Response(
        text=content or "",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        latency_s=latency,
        finish_reason=choice.get("finish_reason") or "stop",
        model=str(data.get("model") or ""),
    )


def error_text(response: httpx.Response) -> str:
    """The server's error message on one line (OpenAI wraps it in {"error": {"message": ...}})."""
    try:
        data = response.json()
        message = None
        if isinstance(data, dict):
            error = data.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            message = message or data.get("message") or data.get("detail")
    except (ValueError, AttributeError):
        message = None
    text = str(message or response.text or response.reason_phrase)
    return " ".join(text.split())[:500]


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), capped; None when absent or bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2**attempt) + random.uniform(0, 0.25)


def estimate_prompt_tokens(request: Request) -> float:
    """Prompt tokens before a tokenizer is at hand: about 4 characters each."""
    return sum(len(m.get("content") or "") for m in request.messages) / 4.0


def estimate_tokens(request: Request) -> float:
    """Prompt tokens plus the completion budget: what a token rate limit must allow for."""
    return estimate_prompt_tokens(request) + request.params.max_tokens


def run_coroutine(coroutine: Any) -> Any:
    """asyncio.run, also when the caller already runs an event loop (a notebook): then the
    coroutine runs in a worker thread, and so do the progress callbacks."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()

