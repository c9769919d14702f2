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
from typing import Any

# The config side of an engine kind lives with the other configs; re-exported so a kind module
# imports everything it needs from here.
from harness.spec.engine import EngineContext, EngineSpec, ResolvedEngine
from harness.types import Request, Response

__all__ = ["Engine", "EngineContext", "EngineSpec", "ProgressCallback", "ResolvedEngine"]

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
