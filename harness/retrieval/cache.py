"""The retrieval step's cache: a query's hits, keyed by everything that produced them.

The key holds the query text, the index identity (corpus content, embedder, chunking), the
retriever's kind and search settings, k, the score threshold and the filter. A hit means the
same corpus would return the same chunks, so a cached run neither loads the embedder nor opens
the index. It lives in the response cache's sqlite file, in a table of its own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from harness.retrieval.store import Hit
from harness.types import stable_hash


def retrieval_key(query: str, index_identity: str, retriever: dict[str, Any], k: int,
                  score_threshold: float | None, filter: dict[str, Any] | None) -> str:
    return stable_hash({"query": query, "index": index_identity, "retriever": retriever,
                        "k": k, "score_threshold": score_threshold, "filter": filter})


def hit_as_dict(hit: Hit) -> dict[str, Any]:
    return {"chunk_id": hit.chunk_id, "doc_id": hit.doc_id, "chunk_index": hit.chunk_index,
            "text": hit.text, "score": hit.score, "source": hit.source,
            "metadata": hit.metadata}


def hit_from_dict(data: dict[str, Any]) -> Hit:
    return Hit(chunk_id=str(data["chunk_id"]), doc_id=str(data["doc_id"]),
               chunk_index=int(data.get("chunk_index", 0)), text=str(data.get("text", "")),
               score=float(data.get("score", 0.0)), source=str(data.get("source", "")),
               metadata=dict(data.get("metadata") or {}))


class RetrievalCache:
    """sqlite table `retrievals`: key -> the hits, best first. Safe to share between runs."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=60.0)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA busy_timeout=60000")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS retrievals (key TEXT PRIMARY KEY, "
                           "hits TEXT NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, list[Hit]]:
        found: dict[str, list[Hit]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):  # sqlite's bound-parameter limit
                part = keys[start:start + 500]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(f"SELECT key, hits FROM retrievals WHERE key IN "
                                          f"({marks})", part).fetchall()
                for key, hits in rows:
                    found[key] = [hit_from_dict(h) for h in json.loads(hits)]
        return found

    def put_many(self, entries: dict[str, list[Hit]]) -> None:
        rows = [(key, json.dumps([hit_as_dict(h) for h in hits], ensure_ascii=False))
                for key, hits in entries.items()]
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT OR REPLACE INTO retrievals (key, hits) VALUES (?, ?)",
                                   rows)
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()
