"""The qdrant_server store: qdrant-client against a server (`url`) or in local mode (`path`).

Every client call goes through `_call`, which turns whatever the client raises (connection
refused, timeout, HTTP error, a local folder held by another client) into one EngineError line;
the HTTP client's timeout bounds each call, so an unreachable server fails within `timeout_s`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from harness.errors import EngineError, HarnessError
from harness.retrieval.store import Filter, Hit, VectorStore, filter_items, hit_from

T = TypeVar("T")
_WRITE_BATCH = 256
_SCROLL_PAGE = 1024
_KEYWORD_FIELDS = ("doc_id", "source")


class ServerStore(VectorStore):
    kind = "qdrant_server"

    def __init__(self, collection: str, *, url: str | None = None, path: Path | None = None,
                 api_key: str | None = None, timeout_s: float = 10.0):
        from qdrant_client import QdrantClient

        self.collection = collection
        self.local = url is None
        self.location = (str(path) if self.local else f"{url} collection {collection}")
        self._what = ("qdrant-client local index " + str(path) if self.local
                      else f"qdrant server {url}")
        self._size: int | None = None
        if self.local and str(path) == ":memory:":  # nothing kept after close()
            self._client = self._call("open", QdrantClient, ":memory:")
        elif self.local:
            assert path is not None
            Path(path).mkdir(parents=True, exist_ok=True)
            self._client = self._call("open the folder", QdrantClient, path=str(path))
        else:
            self._client = self._call(
                "connect", QdrantClient, url=url, api_key=api_key,
                timeout=max(1, math.ceil(timeout_s)), check_compatibility=False)
        self._exists = bool(self._call("reach the server", self._client.collection_exists,
                                       collection))

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            with warnings.catch_warnings():
                # local mode warns that search params (exact, hnsw_ef) have no effect there
                warnings.simplefilter("ignore", UserWarning)
                return fn(*args, **kwargs)
        except HarnessError:
            raise
        except Exception as exc:
            text = str(exc).strip().splitlines()
            detail = f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
            raise EngineError(f"{self._what}: cannot {what} ({detail})") from exc

    # ---- the collection ----------------------------------------------------------------------

    def vector_size(self) -> int | None:
        if not self._exists:
            return None
        if self._size is None:
            info = self._call("read the collection", self._client.get_collection,
                              self.collection)
            vectors = info.config.params.vectors
            if isinstance(vectors, dict):  # named vectors: ours is the unnamed one
                vectors = vectors.get("") or next(iter(vectors.values()))
            self._size = int(vectors.size)
        return self._size

    def create(self, size: int) -> None:
        from qdrant_client import models

        self._call("create the collection", self._client.create_collection, self.collection,
                   vectors_config=models.VectorParams(size=int(size),
                                                      distance=models.Distance.COSINE))
        self._exists, self._size = True, int(size)
        if not self.local:  # local mode has no payload indexes (and warns)
            for key in _KEYWORD_FIELDS:
                self._call("index a payload field", self._client.create_payload_index,
                           self.collection, key, models.PayloadSchemaType.KEYWORD)

    # ---- reads and writes --------------------------------------------------------------------

    def existing(self) -> dict[str, str]:
        if not self._exists:
            return {}
        found: dict[str, str] = {}
        offset = None
        while True:
            records, offset = self._call("read the points", self._client.scroll,
                                         self.collection, limit=_SCROLL_PAGE, offset=offset,
                                         with_payload=["payload_hash"], with_vectors=False)
            for record in records:
                found[str(record.id)] = str((record.payload or {}).get("payload_hash", ""))
            if offset is None or not records:
                return found

    def upsert(self, ids: Sequence[str], vectors: np.ndarray,
               payloads: Sequence[dict[str, Any]]) -> None:
        from qdrant_client import models

        rows = np.asarray(vectors, dtype=np.float32)
        for start in range(0, len(ids), _WRITE_BATCH):
            stop = min(start + _WRITE_BATCH, len(ids))
            points = [models.PointStruct(id=ids[i], vector=rows[i].tolist(), payload=payloads[i])
                      for i in range(start, stop)]
            self._call("write points", self._client.upsert, self.collection, points=points,
                       wait=True)

    def set_payloads(self, ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        from qdrant_client import models

        operations = [models.OverwritePayloadOperation(
            overwrite_payload=models.SetPayload(payload=payload, points=[point_id]))
            for point_id, payload in zip(ids, payloads, strict=True)]
        for start in range(0, len(operations), _WRITE_BATCH):
            self._call("write payloads", self._client.batch_update_points, self.collection,
                       operations[start:start + _WRITE_BATCH], wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        from qdrant_client import models

        ids = list(ids)
        for start in range(0, len(ids), _WRITE_BATCH):
            self._call("delete points", self._client.delete, self.collection,
                       points_selector=models.PointIdsList(points=ids[start:start + _WRITE_BATCH]),
                       wait=True)

    def search(self, vectors: np.ndarray, k: int, filter: Filter | None = None,
               score_threshold: float | None = None, exact: bool = False,
               hnsw_ef: int | None = None) -> list[list[Hit]]:
        from qdrant_client import models

        rows = np.asarray(vectors, dtype=np.float32)
        if len(rows) == 0:
            return []
        if not self._exists:
            return [[] for _ in range(len(rows))]
        condition = _client_filter(filter)
        # local mode is always exact and ignores search params
        params = None if self.local else models.SearchParams(hnsw_ef=hnsw_ef, exact=exact)
        requests = [models.QueryRequest(query=row.tolist(), limit=int(k), filter=condition,
                                        score_threshold=score_threshold, params=params,
                                        with_payload=True)
                    for row in rows]
        responses = self._call("search", self._client.query_batch_points, self.collection,
                               requests=requests)
        return [[hit_from(p.id, p.score, p.payload) for p in response.points]
                for response in responses]

    def count(self) -> int:
        if not self._exists:
            return 0
        return int(self._call("count", self._client.count, self.collection, exact=True).count)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _client_filter(filter: Filter | None) -> Any:
    from qdrant_client import models

    conditions: list[Any] = []
    for key, value in filter_items(filter):
        match = (models.MatchAny(any=value) if isinstance(value, list)
                 else models.MatchValue(value=value))
        conditions.append(models.FieldCondition(key=key, match=match))
    return models.Filter(must=conditions) if conditions else None
