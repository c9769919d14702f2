"""The config side of every engine kind: what it needs from the suite, what it resolves to
without starting anything, and the base of each kind's config model.

Kind modules (harness/engines/*.py) subclass `EngineSpec`; the suite model types its engine
fields by the registry of those subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from harness.spec.base import ModelSpec, PriceSpec, Strict
from harness.types import AdapterRef

if TYPE_CHECKING:
    from harness.models import ResolvedModel


@dataclass(frozen=True)
class EngineContext:
    """What an engine config needs from the suite to resolve and build itself."""

    name: str  # the engine's name in the suite ("default" for the top-level engine)
    base_dir: Path  # the suite's folder: relative paths resolve against it
    default_model: ModelSpec  # the suite's `model`, for engines that name none
    log_dir: Path | None = None
    adapters: tuple[AdapterRef, ...] = ()  # adapters the run will serve on this engine


@dataclass(frozen=True)
class ResolvedEngine:
    """An engine known without starting it: enough for cache keys, manifests and checks."""

    name: str
    kind: str
    identity: dict[str, Any]  # equals what the built engine's identity() returns
    model_label: str  # what reports show as the arm's model
    model: ResolvedModel | None = None  # local weights, where the engine serves a local folder
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)  # for the manifest


class EngineSpec(Strict):
    """Fields every engine kind has. A kind adds its own and overrides resolve() and build()."""

    kind: str
    cost: PriceSpec | None = Field(None, description="prices of this engine's calls (default "
                                   "engine: the suite's `cost` section)")

    # Capabilities the suite is checked against at load time.
    serves_adapters: ClassVar[bool] = False
    # The kinds of constrained decoding (a prompt arm's `response_format`) the engine enforces
    # while generating: "json_schema", "regex". Empty: it cannot constrain its output.
    output_constraints: ClassVar[frozenset[str]] = frozenset()

    def resolve(self, ctx: EngineContext) -> ResolvedEngine:
        raise NotImplementedError

    def build(self, ctx: EngineContext, resolved: ResolvedEngine) -> Any:
        """The engine (a harness.engines.base.Engine), ready to generate."""
        raise NotImplementedError

    def problems(self, ctx: EngineContext) -> list[tuple[Any, ...]]:
        """Checks that need the file system (folders exist...), as (location, message) or
        (location, message, error class) when the problem is not a ConfigError."""
        return []


class LocalWeightsEngineSpec(EngineSpec):
    """An engine that serves weights from this machine (local, vLLM): it may name its own
    `model`, and validation checks that the folder is there."""

    model: ModelSpec | None = Field(None, description="default: the suite's `model`")

    def model_spec(self, ctx: EngineContext) -> ModelSpec:
        return self.model or ctx.default_model

    def problems(self, ctx: EngineContext) -> list[tuple[Any, ...]]:
        from harness.errors import ModelError
        from harness.models import model_spec_problem

        problem = model_spec_problem(self.model_spec(ctx).base, ctx.base_dir)
        if problem is None:
            return []
        # "@model": the suite's top-level `model`, where a default engine's model is written.
        return [(("model", "base") if self.model else ("@model",), problem, ModelError)]
