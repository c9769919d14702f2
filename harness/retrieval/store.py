"""The one interface every vector store (retriever kind) implements, and what a search returns.

A store holds one collection of chunk vectors with their payload:
{doc_id, chunk_index, text, source, content_hash, payload_hash, token_count, metadata}. It knows
nothing of corpora, chunking or embedders: harness/retrieval/index.py decides what to write and
harness/retrieval/retriever.py embeds the queries. Standard library only at top level.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# key (payload path: doc_id, source, metadata.<field>) -> one value, or a list (any of them)
Filter = Mapping[str, Any]


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk."""

    chunk_id: str  # the point id (a UUID derived from doc id and chunk content)
    doc_id: str
    chunk_index: int
    text: str
    score: float
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)


def hit_from(point_id: Any, score: float, payload: Mapping[str, Any] | None) -> Hit:
    payload = payload or {}
    return Hit(chunk_id=str(point_id), doc_id=str(payload.get("doc_id", "")),
               chunk_index=int(payload.get("chunk_index", 0)), text=str(payload.get("text", "")),
               score=float(score), source=str(payload.get("source", "")),
               metadata=dict(payload.get("metadata") or {}))


class VectorStore(ABC):
    """One collection of chunk vectors (cosine distance)."""

    kind: str = "store"
    location: str = ""  # a folder or URL, for messages

    @abstractmethod
    def vector_size(self) -> int | None:
        """The size of the collection's vectors, or None when there is no collection yet."""

    @abstractmethod
    def create(self, size: int) -> None:
        """Create the (empty) collection; only called when vector_size() is None."""

    @abstractmethod
    def existing(self) -> dict[str, str]:
        """Every point the collection holds: point id -> its payload's `payload_hash`."""

    @abstractmethod
    def upsert(self, ids: Sequence[str], vectors: np.ndarray,
               payloads: Sequence[dict[str, Any]]) -> None:
        """Write points: one id, vector row and payload each."""

    @abstractmethod
    def set_payloads(self, ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        """Replace the payload of points that keep their vector."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None: ...

    @abstractmethod
    def search(self, vectors: np.ndarray, k: int, filter: Filter | None = None,
               score_threshold: float | None = None, exact: bool = False,
               hnsw_ef: int | None = None) -> list[list[Hit]]:
        """The best `k` hits for each query row, best first, in one batched call."""

    @abstractmethod
    def count(self) -> int: ...

    def optimize(self) -> None:
        """Build the search index after writes (a store that indexes by itself: nothing)."""
        return None

    def flush(self) -> None:
        """Make the writes durable (a store that writes through: nothing)."""
        return None

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def filter_items(filter: Filter | None) -> list[tuple[str, Any]]:
    """A filter as (key, value-or-list) pairs; a tuple/set counts as a list."""
    items = []
    for key, value in (filter or {}).items():
        if isinstance(value, tuple | set | frozenset):
            value = list(value)
        items.append((str(key), value))
    return items
