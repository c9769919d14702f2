"""Retrieval for a run: the suite's corpora, searched in batches, each query's hits cached.

`CorpusSearch.search(corpus, queries, ...)` looks every query up in the retrieval cache first;
only the misses open the corpus's index (bringing it up to date incrementally: an edited corpus
is re-indexed here, only its changed chunks re-embedded), embed the missing queries in one pass
and search them in one batch. A fully cached run never loads the embedder.

The index identity (corpus content + embedder + chunking) is computed from the files alone,
so it can key the cache and the run's input identity without opening anything.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.retrieval.cache import RetrievalCache, retrieval_key
from harness.retrieval.corpus import Document, corpus_hash, load_corpus
from harness.retrieval.index import IndexPlan, IndexReport, index_identity, plan_index
from harness.retrieval.store import Hit

if TYPE_CHECKING:
    from harness.retrieval.retriever import Retriever
    from harness.spec.corpus import CorpusSpec


@dataclass
class SearchStats:
    queries: int = 0
    cached: int = 0
    seconds: float = 0.0  # wall time of the searches that missed the cache (embed + search)
    index_reports: list[IndexReport] = field(default_factory=list)


class CorpusSearch:
    def __init__(self, corpora: dict[str, CorpusSpec], base_dir: Path,
                 cache: RetrievalCache | None, *, progress: bool | None = None,
                 device: str | None = None):
        self.corpora = corpora
        self.base_dir = base_dir
        self.cache = cache
        self.progress = progress
        self.device = device
        self.stats = SearchStats()
        self._plans: dict[str, IndexPlan] = {}
        self._identities: dict[str, str] = {}
        self._documents: dict[str, list[Document]] = {}
        self._open: dict[str, Retriever] = {}

    def spec(self, corpus: str) -> CorpusSpec:
        try:
            return self.corpora[corpus]
        except KeyError:
            known = ", ".join(sorted(self.corpora)) or "none"
            raise ConfigError(f"unknown corpus '{corpus}'; the suite defines: {known}") from None

    def plan(self, corpus: str) -> IndexPlan:
        if corpus not in self._plans:
            self._plans[corpus] = plan_index(self.spec(corpus), self.base_dir)
        return self._plans[corpus]

    def index_identity(self, corpus: str) -> str:
        """The index the corpus's files would give: corpus content, embedder, chunking."""
        if corpus not in self._identities:
            plan = self.plan(corpus)
            docs = self._documents[corpus] = load_corpus(plan.corpus_path)
            self._identities[corpus] = index_identity(corpus_hash(docs), plan.embedder,
                                                      plan.spec.chunking())
        return self._identities[corpus]

    def describe(self, corpus: str) -> dict[str, Any]:
        """What the run's manifest records of a corpus (no URL, no key)."""
        plan = self.plan(corpus)
        resolved = plan.spec.retriever.resolve(plan.context)
        return {"corpus": corpus, "index": self.index_identity(corpus),
                "embedder": plan.embedder, "chunking": plan.spec.chunking(),
                "retriever": resolved.identity}

    def search(self, corpus: str, queries: Sequence[str], *, k: int,
               score_threshold: float | None = None,
               filter: dict[str, Any] | None = None) -> list[list[Hit]]:
        """The best `k` hits of each query, best first (cached ones from the cache)."""
        plan = self.plan(corpus)
        spec = plan.spec.retriever
        threshold = spec.score_threshold if score_threshold is None else score_threshold
        merged = {**(spec.filter or {}), **(filter or {})} or None
        retriever_identity = plan.spec.retriever.resolve(plan.context).identity
        identity = self.index_identity(corpus)
        keys = [retrieval_key(q, identity, retriever_identity, k, threshold, merged)
                for q in queries]
        found = self.cache.get_many(list(dict.fromkeys(keys))) if self.cache else {}
        missing = list(dict.fromkeys(q for q, key in zip(queries, keys, strict=True)
                                     if key not in found))
        self.stats.queries += len(queries)
        self.stats.cached += len(queries) - sum(1 for key in keys if key not in found)
        if missing:
            started = time.perf_counter()
            retriever = self._retriever(corpus)
            hits = retriever.search(missing, k=k, filter=merged, score_threshold=threshold)
            fresh = {retrieval_key(q, identity, retriever_identity, k, threshold, merged): h
                     for q, h in zip(missing, hits, strict=True)}
            if self.cache is not None:
                self.cache.put_many(fresh)
            found.update(fresh)
            self.stats.seconds += time.perf_counter() - started
        return [found[key] for key in keys]

    def _retriever(self, corpus: str) -> Retriever:
        if corpus not in self._open:
            from harness.retrieval.index import update_index
            from harness.retrieval.retriever import Retriever

            plan = self.plan(corpus)
            self.index_identity(corpus)  # reads the documents once, for identity and index
            store = plan.spec.retriever.open(plan.context)
            try:
                report = update_index(plan, store, progress=self.progress, device=self.device,
                                      documents=self._documents[corpus])
            except BaseException:
                store.close()
                raise
            self.stats.index_reports.append(report)
            self._open[corpus] = Retriever(plan, store, device=self.device, report=report)
        return self._open[corpus]

    def close(self) -> None:
        for retriever in self._open.values():
            retriever.close()
        self._open.clear()
