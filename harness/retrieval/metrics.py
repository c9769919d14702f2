"""Retrieval quality counted in documents: a document is retrieved when any of its chunks is.

Each query gives the doc ids of its retrieved chunks, best first (a document may appear more
than once); duplicates count once, at their best rank. Gold is the set of relevant doc ids.
Queries with no gold documents are skipped by the means (nothing to find).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def ranked_documents(doc_ids: Iterable[str]) -> list[str]:
    """Doc ids in order of first appearance: the document ranking of a chunk ranking."""
    seen: dict[str, None] = {}
    for doc_id in doc_ids:
        seen.setdefault(doc_id, None)
    return list(seen)


def recall_at_k(retrieved: Sequence[str], gold: Iterable[str], k: int) -> float:
    """The share of gold documents among the first k documents retrieved."""
    wanted = set(gold)
    if not wanted:
        return 0.0
    return len(wanted & set(ranked_documents(retrieved)[:k])) / len(wanted)


def reciprocal_rank(retrieved: Sequence[str], gold: Iterable[str], k: int | None = None) -> float:
    """1 / the document rank of the first gold document (0 when none, within k if given)."""
    wanted = set(gold)
    ranking = ranked_documents(retrieved)
    for rank, doc_id in enumerate(ranking[:k] if k else ranking, start=1):
        if doc_id in wanted:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Binary-relevance nDCG over the first k documents: DCG = sum 1/log2(rank + 1) over gold
    documents, divided by the DCG of an ideal ranking (all gold first)."""
    wanted = set(gold)
    if not wanted:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1)
              for rank, doc_id in enumerate(ranked_documents(retrieved)[:k], start=1)
              if doc_id in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(wanted)) + 1))
    return dcg / ideal


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def retrieval_metrics(retrieved: Sequence[Sequence[str]], gold: Sequence[Iterable[str]],
                      k: int) -> dict[str, float]:
    """Mean recall@k, MRR (within k) and nDCG@k over the queries that have gold documents."""
    if len(retrieved) != len(gold):
        raise ValueError(f"{len(retrieved)} retrieved lists for {len(gold)} gold sets")
    pairs = [(r, set(g)) for r, g in zip(retrieved, gold, strict=True)]
    pairs = [(r, g) for r, g in pairs if g]
    return {f"recall@{k}": _mean([recall_at_k(r, g, k) for r, g in pairs]),
            "mrr": _mean([reciprocal_rank(r, g, k) for r, g in pairs]),
            f"ndcg@{k}": _mean([ndcg_at_k(r, g, k) for r, g in pairs]),
            "queries": float(len(pairs))}
