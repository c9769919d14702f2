"""Build the engine a suite asks for (the only place that knows every engine kind)."""

from __future__ import annotations

from pathlib import Path

from harness.config import LocalEngineSpec, Suite, VLLMEngineSpec
from harness.engines.base import Engine
from harness.engines.dtypes import resolve_dtype_name
from harness.models import ResolvedModel
from harness.types import AdapterRef


def make_engine(suite: Suite, model: ResolvedModel, adapters: list[AdapterRef],
                log_dir: Path) -> Engine:
    spec = suite.engine
    if isinstance(spec, LocalEngineSpec):
        from harness.engines.local import LocalEngine

        return LocalEngine(model, dtype=suite.model.dtype, batch_size=spec.batch_size,
                           threads=spec.threads, max_loaded_adapters=spec.max_loaded_adapters)
    if isinstance(spec, VLLMEngineSpec):
        from harness.engines.vllm import VLLMEngine

        return VLLMEngine.from_spec(spec, model=model, adapters=adapters, log_dir=log_dir,
                                    dtype=suite.model.dtype, base_dir=suite.base_dir)
    raise AssertionError(f"unhandled engine spec {spec!r}")


def engine_identity(suite: Suite, model: ResolvedModel) -> dict[str, str]:
    """The engine's cache identity, known without starting the engine (so a fully cached re-run
    never loads a model or starts a server). Must equal what the engine's identity() returns."""
    kind = suite.engine.kind
    dtype = suite.model.dtype
    if kind == "local":
        dtype = resolve_dtype_name(dtype)
    return {"kind": kind, "model": model.identity, "dtype": dtype}
