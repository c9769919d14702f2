"""The one interface every generation backend implements, and the config every engine kind has.

An engine takes requests and returns responses in the same order. It knows nothing of arms,
scores or suites. Caching is not the engine's job: the runner wraps any engine with the cache.

A request that still fails after the engine's retries is not an exception: the engine returns a
Response with `error` set (the runner records it as an arm error for that example). Only a
backend that is gone (a dead server, every request refused) raises EngineError, after passing
every finished response to `progress`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from harness.spec.base import ModelSpec, PriceSpec, Strict
from harness.types import AdapterRef, Request, Response

if TYPE_CHECKING:
    from harness.models import ResolvedModel

# Called once per finished request with its index in the input list and its response, as soon
# as it is done: the runner persists each response right away, so a crash loses nothing. An
# exception raised by the callback (a spending limit reached) stops the engine: it cancels what
# is still running and lets the exception through.
ProgressCallback = Callable[[int, Response], None]


class Engine(ABC):
    kind: str = "engine"

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What identifies this engine's outputs (kind, model identity, dtype): the cache key."""

    @abstractmethod
    def generate(
        self, requests: Sequence[Request], progress: ProgressCallback | None = None
    ) -> list[Response]:
        """Generate one response per request, in the same order.

        A request that fails for good gives a Response with `error` set. If the backend is gone
        (a server dying), raise EngineError; every response finished before has already been
        passed to `progress`, so nothing generated is lost.
        """

    def close(self) -> None:  # noqa: B027 - optional: engines holding nothing need no close
        """Release what the engine holds (models, servers). Safe to call twice."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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

    def resolve(self, ctx: EngineContext) -> ResolvedEngine:
        raise NotImplementedError

    def build(self, ctx: EngineContext, resolved: ResolvedEngine) -> Engine:
        raise NotImplementedError

    def problems(self, ctx: EngineContext) -> list[tuple[tuple[Any, ...], str]]:
        """Checks that need the file system (folders exist...), as (location, message)."""
        return []
