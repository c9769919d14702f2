"""The `local` engine kind: transformers + peft in this process (the embedded default).

The engine itself lives in harness/engines/_transformers.py and is imported only when built.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.engines import ENGINES
from harness.engines.base import Engine, EngineContext, ResolvedEngine
from harness.spec.engine import LocalWeightsEngineSpec


@ENGINES.register("local")
class LocalEngineSpec(LocalWeightsEngineSpec):
    kind: Literal["local"] = "local"
    batch_size: int = Field(8, ge=1, le=512)
    threads: int | None = Field(None, ge=1, description="torch threads; default: torch's choice")
    max_loaded_adapters: int = Field(4, ge=1)
    merge_adapters: bool | None = Field(
        None, description="serve an adapter with its LoRA weights merged into a base whose "
        "weights are copied back afterwards: faster decoding, one more copy of the adapted "
        "weights in memory while it serves; default: on a CPU only")

    serves_adapters: ClassVar[bool] = True
    # Grammar-constrained decoding: xgrammar (harness/engines/_grammar.py, _decode.py).
    output_constraints: ClassVar[frozenset[str]] = frozenset({"json_schema", "regex"})

    def resolve(self, ctx: EngineContext) -> ResolvedEngine:
        from harness.devices import default_device, resolve_dtype_name
        from harness.engines._local_identity import (
            local_identity,
            resolve_merge,
            resolve_shared_prefix,
        )
        from harness.models import resolve_model

        spec = self.model_spec(ctx)
        model = resolve_model(spec.base, ctx.base_dir)
        device = default_device()
        identity = local_identity(model.identity, resolve_dtype_name(spec.dtype),
                                  merge=resolve_merge(self.merge_adapters, device),
                                  shared_attention=resolve_shared_prefix(device))
        return ResolvedEngine(ctx.name, "local", identity, model.label, model)

    def build(self, ctx: EngineContext, resolved: ResolvedEngine) -> Engine:
        from harness.engines._transformers import LocalEngine

        assert resolved.model is not None
        return LocalEngine(resolved.model, dtype=self.model_spec(ctx).dtype,
                           batch_size=self.batch_size, threads=self.threads,
                           max_loaded_adapters=self.max_loaded_adapters,
                           merge_adapters=self.merge_adapters)


def __getattr__(name: str) -> Any:
    # `from harness.engines.local import LocalEngine` keeps working, without importing torch
    # for everyone who only reads the config.
    if name == "LocalEngine":
        from harness.engines._transformers import LocalEngine

        return LocalEngine
    raise AttributeError(name)
