"""Search a corpus's index: embed a batch of queries in one pass, search them in one batch.

`open_retriever(spec)` brings the index up to date (incrementally: usually nothing to embed)
and keeps the store open; `Retriever.search(queries)` returns hits per query, best first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.retrieval.index import IndexPlan, IndexReport, plan_index, read_manifest, update_index
from harness.retrieval.store import Filter, Hit
from harness.spec.corpus import CorpusSpec

if TYPE_CHECKING:
    from harness.retrieval.store import VectorStore


class Retriever:
    def __init__(self, plan: IndexPlan, store: VectorStore, *, device: str | None = None,
                 report: IndexReport | None = None):
        self.plan = plan
        self.spec = plan.spec.retriever
        self.store = store
        self.device = device
        self.report = report
        manifest = read_manifest(plan.index_dir) or {}
        self.index_identity = report.identity if report else manifest.get("identity")

    def identity(self) -> dict[str, Any]:
        """What search results depend on: the index (corpus, embedder, chunking) and the
        retriever's kind and search settings. Never a URL."""
        return {"index": self.index_identity,
                "retriever": self.spec.resolve(self.plan.context).identity}

    def search(self, queries: Sequence[str], k: int | None = None,
               filter: Filter | None = None, score_threshold: float | None = None,
               exact: bool | None = None, hnsw_ef: int | None = None) -> list[list[Hit]]:
        """The best hits of each query. Arguments left None take the retriever config's
        values; `filter` adds to (and per key overrides) the config's filter."""
        from harness.embedding import embed

        if not queries:
            return []
        vectors = embed(list(queries), path=self.plan.embedder_folder, device=self.device)
        merged = {**(self.spec.filter or {}), **(filter or {})} or None
        return self.store.search(
            vectors, k or self.spec.top_k, merged,
            self.spec.score_threshold if score_threshold is None else score_threshold,
            self.spec.exact if exact is None else exact,
            self.spec.hnsw_ef if hnsw_ef is None else hnsw_ef)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_retriever(spec: CorpusSpec, base_dir: Path | None = None, *, build: bool = True,
                   progress: bool | None = None, device: str | None = None) -> Retriever:
    """A Retriever on `spec`'s index; `build` (default) brings the index up to date first."""
    plan = plan_index(spec, base_dir)
    store = spec.retriever.open(plan.context)
    try:
        if build:
            report = update_index(plan, store, progress=progress, device=device)
        else:
            report = None
            _check_built(plan, store)
    except BaseException:
        store.close()
        raise
    return Retriever(plan, store, device=device, report=report)


def _check_built(plan: IndexPlan, store: VectorStore) -> None:
    """An index opened without building must exist and match the corpus's embedder."""
    if store.vector_size() is None:
        raise ConfigError(f"index {store.location} has not been built: build it first "
                          "(harness.retrieval.index.build_index)")
    manifest = read_manifest(plan.index_dir) or {}
    built_with = manifest.get("embedder")
    if built_with and built_with != plan.embedder:
        raise ConfigError(f"index {plan.index_dir} was built with embedder {built_with}, not "
                          f"{plan.embedder} (corpus.embedder): rebuild it")
