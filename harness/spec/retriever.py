"""The config side of every retriever kind (where a corpus's chunk vectors live and how they are
searched): what it needs, what it resolves to without opening anything, and the base of each
kind's config model.

Kind modules (harness/retrieval/backends/*.py) subclass `RetrieverSpec` and register it with
`@RETRIEVERS.register("kind")`; `CorpusSpec.retriever` (harness/spec/corpus.py) is typed by that
registry. Like EngineSpec, this module imports only the standard library and pydantic: the
vector store a kind opens is imported by its `open()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from harness.spec.base import Strict

# A payload filter: key -> one value (must equal) or a list of values (must equal one of them).
# Keys are payload paths: "doc_id", "source", "metadata.<field>".
FilterValue = str | int | bool | list[str] | list[int]


@dataclass(frozen=True)
class RetrieverContext:
    """What a retriever config needs to resolve and open itself."""

    index_dir: Path  # the corpus's index folder (manifest.json lives there)
    base_dir: Path = Path(".")  # relative paths in the config resolve against it
    name: str = "harness"  # a stable name for the index (the index folder's name)


@dataclass(frozen=True)
class ResolvedRetriever:
    """A retriever known without opening it: enough for cache keys and manifests."""

    kind: str
    identity: dict[str, Any]  # what changes search results; never a URL, port or key
    location: str  # where the vectors live, for messages (a folder, or a URL)
    details: dict[str, Any] = field(default_factory=dict)


class RetrieverSpec(Strict):
    """Fields every retriever kind has (search defaults). A kind adds its own and overrides
    resolve() and open()."""

    kind: str
    top_k: int = Field(4, ge=1, le=1000, description="chunks returned per query")
    score_threshold: float | None = Field(None, description="drop hits scoring below this "
                                          "(cosine similarity, -1..1)")
    exact: bool = Field(False, description="exact (brute-force) search instead of the HNSW "
                        "index")
    hnsw_ef: int | None = Field(None, ge=1, description="HNSW search breadth; default: the "
                                "backend's")
    filter: dict[str, FilterValue] | None = Field(
        None, description="payload filter applied to every query: key (doc_id, source, "
        "metadata.<field>) -> a value, or a list of values (any of them)")

    @field_validator("filter")
    @classmethod
    def _filter_lists_not_empty(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, wanted in (value or {}).items():
            if isinstance(wanted, list) and not wanted:
                raise ValueError(f"filter {key!r}: expected a value or a non-empty list")
        return value

    def search_identity(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "score_threshold": self.score_threshold,
                "exact": self.exact, "hnsw_ef": self.hnsw_ef, "filter": self.filter}

    def resolve(self, ctx: RetrieverContext) -> ResolvedRetriever:
        raise NotImplementedError

    def open(self, ctx: RetrieverContext) -> Any:
        """The vector store (a harness.retrieval.store.VectorStore), opened."""
        raise NotImplementedError

    def problems(self, ctx: RetrieverContext) -> list[tuple[tuple[Any, ...], str]]:
        """Checks that need the file system or environment, as (location, message)."""
        return []
