"""The arm interface: Example -> Request. Arms never generate; engines do.

An arm's config (`ArmSpec`) names the arm, the engine that answers it (default: the suite's
engine) and how to build it; the built `Arm` turns examples into requests and says what it is
(its roles: does it carry an adapter, does it retrieve) for the manifest, so that decisions
never infer roles from a kind name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The config side of an arm kind lives with the other configs; re-exported for kind modules.
from harness.spec.arm import DEFAULT_ENGINE, ArmSpec, Loc
from harness.types import Example, GenerationParams, Message, Request

if TYPE_CHECKING:
    from harness.retrieval.service import CorpusSearch
    from harness.spec.engine import ResolvedEngine

__all__ = ["DEFAULT_ENGINE", "Arm", "ArmContext", "ArmSpec", "Loc", "Roles"]


@dataclass(frozen=True)
class Roles:
    """What an arm is, for decisions and reports."""

    has_adapter: bool = False
    has_retrieval: bool = False
    constrained: bool = False


class Arm(ABC):
    """One way of answering: a prompt, a prompt plus retrieval, an adapter, ..."""

    kind: str = "arm"

    def __init__(self, name: str, params: GenerationParams, engine: str = DEFAULT_ENGINE):
        self.name = name
        self.params = params
        self.engine = engine

    @abstractmethod
    def messages(self, example: Example) -> list[Message]:
        """The full conversation sent for this example."""

    def build(self, example: Example) -> Request:
        return Request(messages=tuple(self.messages(example)), params=self.params)

    def prepare(self, examples: Sequence[Example]) -> None:
        """Work done once for all examples before any is built (a RAG arm retrieves for
        all of them in one batch). Default: nothing."""
        return None

    @property
    def roles(self) -> Roles:
        return Roles()

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this arm beyond its roles."""
        return {"params": self.params.as_dict()}


class ArmContext:
    """What an arm config needs to build itself: the suite's files, other arms, engines."""

    def __init__(self, suite: Any, engines: dict[str, ResolvedEngine],
                 search: CorpusSearch | None = None):
        self.suite = suite
        self.engines = engines
        self._search = search
        self._built: dict[str, Arm] = {}
        self._building: list[str] = []

    def corpus_search(self) -> CorpusSearch:
        """Retrieval over the suite's corpora (the runner's, with its cache; else uncached)."""
        if self._search is None:
            from harness.retrieval.service import CorpusSearch

            self._search = CorpusSearch(self.suite.corpora, self.suite.base_dir, None)
        return self._search

    def close(self) -> None:
        if self._search is not None:
            self._search.close()

    @property
    def base_dir(self) -> Path:
        return self.suite.base_dir

    def resolve(self, relative: str) -> Path:
        return self.suite.resolve(relative)

    def params(self, spec: ArmSpec) -> GenerationParams:
        return (spec.generation or self.suite.generation).params()

    def arm(self, name: str) -> Arm:
        """The built arm `name` (built on first use, so arms may wrap arms in any order)."""
        if name in self._built:
            return self._built[name]
        if name in self._building:
            from harness.errors import ConfigError

            raise ConfigError(f"arms {' -> '.join([*self._building, name])} refer to each other "
                              "in a circle")
        self._building.append(name)
        try:
            arm = self.suite.arm(name).build(self)
        finally:
            self._building.pop()
        self._built[name] = arm
        return arm

    def engine_of(self, spec: ArmSpec) -> ResolvedEngine:
        return self.engines[spec.engine or DEFAULT_ENGINE]
