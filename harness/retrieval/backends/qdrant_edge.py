"""The `qdrant_edge` retriever kind: the real Qdrant engine in this process (qdrant-edge-py),
in a persistent folder inside the index folder. The embedded default: no server.

The store lives in harness/retrieval/backends/_edge.py and is imported only when opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from harness.registry import RETRIEVERS
from harness.spec.retriever import ResolvedRetriever, RetrieverContext, RetrieverSpec


@RETRIEVERS.register("qdrant_edge")
class QdrantEdgeSpec(RetrieverSpec):
    kind: Literal["qdrant_edge"] = "qdrant_edge"
    hnsw_m: int = Field(16, ge=4, le=128, description="HNSW edges per node (when the shard "
                        "is created)")
    hnsw_ef_construct: int = Field(100, ge=4, description="HNSW build breadth (when the shard "
                                   "is created)")
    search_threads: int | None = Field(None, ge=1, description="search thread pool size; "
                                       "default: from the number of CPUs")

    def folder(self, ctx: RetrieverContext) -> Path:
        return ctx.index_dir / "qdrant_edge"

    def resolve(self, ctx: RetrieverContext) -> ResolvedRetriever:
        identity = {"kind": "qdrant_edge", "hnsw_m": self.hnsw_m,
                    "hnsw_ef_construct": self.hnsw_ef_construct, **self.search_identity()}
        return ResolvedRetriever("qdrant_edge", identity, str(self.folder(ctx)))

    def open(self, ctx: RetrieverContext) -> Any:
        from harness.retrieval.backends._edge import EdgeStore

        return EdgeStore(self.folder(ctx), hnsw_m=self.hnsw_m,
                         hnsw_ef_construct=self.hnsw_ef_construct,
                         search_threads=self.search_threads)
