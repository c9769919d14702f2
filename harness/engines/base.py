"""The one interface every generation backend implements.

An engine takes requests and returns responses in the same order. It knows nothing of arms,
scores or suites. Caching is not the engine's job: the runner wraps any engine with the cache.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from harness.types import Request, Response

# Called once per finished request with its index in the input list and its response, as soon
# as it is done: the runner persists each response right away, so a crash loses nothing.
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

        On a failure part-way (a server dying), raise EngineError; every response finished before
        has already been passed to `progress`, so nothing generated is lost.
        """

    def close(self) -> None:  # noqa: B027 - optional: engines holding nothing need no close
        """Release what the engine holds (models, servers). Safe to call twice."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
