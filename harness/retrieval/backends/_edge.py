"""The qdrant_edge store: one EdgeShard (the Qdrant engine in-process) in a persistent folder.

Qdrant-edge never optimises by itself: new points are brute-force searched until `optimize()`
builds the HNSW index (the index build calls it after writing). `EdgeShard.create` refuses a
folder that holds segments and `EdgeShard.load` recovers its config, so the folder is loaded
when it holds a shard and created on the first `create(size)` otherwise. One open shard per
folder: a second opener (another process) gets a one-line EngineError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import qdrant_edge as qe

from harness.errors import EngineError
from harness.retrieval.store import Filter, Hit, VectorStore, filter_items, hit_from

T = TypeVar("T")
_CONFIG_FILE = "edge_config.json"
_WRITE_BATCH = 512
_SCROLL_PAGE = 2048
# Payload fields filtered on most; metadata.<field> filters work without an index.
_KEYWORD_FIELDS = ("doc_id", "source")


class EdgeStore(VectorStore):
    kind = "qdrant_edge"

    def __init__(self, folder: Path, *, hnsw_m: int = 16, hnsw_ef_construct: int = 100,
                 search_threads: int | None = None, full_scan_threshold_kb: int = 10_000,
                 indexing_threshold_kb: int | None = None):
        """The hnsw_*, *_threshold_kb and search_threads settings apply when the shard is
        created. Qdrant's defaults (10,000 KB, about 6,500 384-d vectors) keep a small
        segment plain: it is brute-force searched, exactly, and no HNSW graph is built."""
        self.folder = Path(folder)
        self.location = str(self.folder)
        self._hnsw = (hnsw_m, hnsw_ef_construct, full_scan_threshold_kb)
        self._indexing_threshold_kb = indexing_threshold_kb
        self._search_threads = search_threads
        self._shard: Any = None
        self._closed = False
        if (self.folder / _CONFIG_FILE).is_file():
            self._shard = self._call("open the shard", qe.EdgeShard.load, str(self.folder))

    # ---- errors ------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except Exception as exc:  # the bindings raise plain Exception with the engine's text
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "WouldBlock" in text:
                raise EngineError(f"index folder {self.folder} is open elsewhere (qdrant-edge "
                                  "allows one open shard per folder): close the other "
                                  "process") from exc
            raise EngineError(f"qdrant-edge index {self.folder}: cannot {what}: "
                              f"{text[:300]}") from exc

    def _live(self) -> Any:
        """The shard, or None before create(); an error once closed."""
        if self._closed:
            raise EngineError(f"qdrant-edge index {self.folder} is closed")
        return self._shard

    def _require(self) -> Any:
        if self._live() is None:
            raise EngineError(f"qdrant-edge index {self.folder}: no collection yet (build the "
                              "index first)")
        return self._shard

    # ---- the collection ----------------------------------------------------------------------

    def vector_size(self) -> int | None:
        if self._live() is None:
            return None
        try:
            config = json.loads((self.folder / _CONFIG_FILE).read_text(encoding="utf-8"))
            return int(config["vectors"][""]["size"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EngineError(f"qdrant-edge index {self.folder}: unreadable {_CONFIG_FILE} "
                              f"({exc})") from exc

    def create(self, size: int) -> None:
        m, ef_construct, full_scan_kb = self._hnsw
        optimizers = (None if self._indexing_threshold_kb is None else
                      qe.EdgeOptimizersConfig(indexing_threshold=self._indexing_threshold_kb))
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=int(size), distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(m=m, ef_construct=ef_construct,
                                           full_scan_threshold=full_scan_kb),
            optimizers=optimizers, max_search_threads=self._search_threads)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._shard = self._call("create the shard", qe.EdgeShard.create, str(self.folder),
                                 config)
        for key in _KEYWORD_FIELDS:
            self._update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))

    def _update(self, operation: Any) -> None:
        self._call("write", self._require().update, operation)

    # ---- reads and writes --------------------------------------------------------------------

    def existing(self) -> dict[str, str]:
        if self._live() is None:
            return {}
        found: dict[str, str] = {}
        offset = None
        while True:
            request = qe.ScrollRequest(offset=offset, limit=_SCROLL_PAGE,
                                       with_payload=["payload_hash"], with_vector=False)
            records, offset = self._call("read the points", self._shard.scroll, request)
            for record in records:
                found[str(record.id)] = str((record.payload or {}).get("payload_hash", ""))
            if offset is None or not records:
                return found

    def upsert(self, ids: Sequence[str], vectors: np.ndarray,
               payloads: Sequence[dict[str, Any]]) -> None:
        rows = np.asarray(vectors, dtype=np.float32)
        for start in range(0, len(ids), _WRITE_BATCH):
            points = [qe.Point(ids[i], rows[i].tolist(), payloads[i])
                      for i in range(start, min(start + _WRITE_BATCH, len(ids)))]
            self._update(qe.UpdateOperation.upsert_points(points))

    def set_payloads(self, ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        for point_id, payload in zip(ids, payloads, strict=True):
            self._update(qe.UpdateOperation.overwrite_payload([point_id], payload))

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), _WRITE_BATCH):
            self._update(qe.UpdateOperation.delete_points(ids[start:start + _WRITE_BATCH]))

    def search(self, vectors: np.ndarray, k: int, filter: Filter | None = None,
               score_threshold: float | None = None, exact: bool = False,
               hnsw_ef: int | None = None) -> list[list[Hit]]:
        rows = np.asarray(vectors, dtype=np.float32)
        if len(rows) == 0:
            return []
        if self._live() is None:
            return [[] for _ in range(len(rows))]
        condition = _edge_filter(filter)
        params = qe.SearchParams(hnsw_ef=hnsw_ef, exact=exact)
        requests = [qe.QueryRequest(limit=int(k), query=qe.Query.Nearest(row.tolist()),
                                    with_payload=True, filter=condition,
                                    score_threshold=score_threshold, params=params)
                    for row in rows]
        batches = self._call("search", self._shard.query_batch, qe.QueryBatchRequest(requests))
        return [[hit_from(p.id, p.score, p.payload) for p in points] for points in batches]

    def count(self) -> int:
        if self._live() is None:
            return 0
        return int(self._call("count", self._shard.count, qe.CountRequest(exact=True)))

    def optimize(self) -> None:
        if self._live() is not None:
            self._call("build the HNSW index", self._shard.optimize)

    def flush(self) -> None:
        if self._live() is not None:
            self._call("flush", self._shard.flush)

    def close(self) -> None:
        shard, self._shard, self._closed = self._shard, None, True
        if shard is not None:
            try:
                shard.flush()
            finally:
                shard.close()


def _edge_filter(filter: Filter | None) -> Any:
    conditions = []
    for key, value in filter_items(filter):
        if isinstance(value, list):
            conditions.append(qe.FieldCondition(key=key, match=qe.MatchAny(value)))
        else:
            conditions.append(qe.FieldCondition(key=key, match=qe.MatchValue(value)))
    return qe.Filter(must=conditions) if conditions else None
