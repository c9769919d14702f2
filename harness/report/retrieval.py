"""The report's retrieval section: per retrieving arm, how well retrieval found the gold
documents (recall@k, MRR, nDCG@k counted in documents), and examples with their sources.

Pure: reads the run's manifest and DataFrames, returns plain data for the template. An example
counts only when the golden set gives it `gold_doc_ids`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.report.examples import clip
from harness.retrieval.metrics import ndcg_at_k, ranked_documents, recall_at_k, reciprocal_rank

SHOWN_EXAMPLES = 3  # per arm: misses first (the retriever's fault), then hits


def retrieval_k(detail: dict[str, Any]) -> int | None:
    """The k an arm retrieves with, from its manifest detail (a tuned arm wraps its RAG arm)."""
    while isinstance(detail, dict):
        if isinstance(detail.get("retrieval"), dict):
            return int(detail["retrieval"].get("k") or 0) or None
        detail = detail.get("prompt")
    return None


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def retrieval_section(manifest: Any, examples: pd.DataFrame,
                      responses: pd.DataFrame) -> dict[str, Any] | None:
    arms = [a for a in manifest.arms if a.has_retrieval]
    if not arms or "contexts" not in responses:
        return None
    gold = {str(r.uid): [str(g) for g in _list(r.gold_doc_ids)]
            for r in examples.drop_duplicates("uid").itertuples()
            if "gold_doc_ids" in examples}
    questions = examples.drop_duplicates("uid").set_index("uid")["prompt"].to_dict()
    rows, shown = [], []
    for arm in arms:
        k = retrieval_k(arm.detail) or 0
        mine = responses[responses["arm"] == arm.name].drop_duplicates("uid", keep="last")
        metrics: dict[str, list[float]] = {"recall": [], "mrr": [], "ndcg": []}
        passages, misses, hits = [], [], []
        for r in mine.itertuples():
            contexts = _list(r.contexts)
            passages.append(len(contexts))
            docs = [str(c.get("doc_id", "")) for c in contexts if isinstance(c, dict)]
            wanted = gold.get(str(r.uid)) or []
            if not wanted:
                continue
            metrics["recall"].append(recall_at_k(docs, wanted, k or len(docs)))
            metrics["mrr"].append(reciprocal_rank(docs, wanted))
            metrics["ndcg"].append(ndcg_at_k(docs, wanted, k or len(docs)))
            entry = {"arm": arm.name, "uid": str(r.uid),
                     "question": clip(questions.get(r.uid, ""), 200),
                     "gold": ", ".join(wanted), "answer": clip(r.text, 300),
                     "sources": ", ".join(
                         f"{c.get('doc_id')} ({float(c.get('score', 0)):.2f})"
                         + (" ✓" if str(c.get("doc_id")) in wanted else "")
                         for c in contexts if isinstance(c, dict)) or "none",
                     "found": bool(set(ranked_documents(docs)) & set(wanted))}
            (hits if entry["found"] else misses).append(entry)
        n = len(metrics["recall"])

        def mean(values: list[float]) -> str:
            return f"{sum(values) / len(values):.3f}" if values else "—"

        rows.append({"arm": arm.name, "k": k or "—", "n": n,
                     "recall": mean(metrics["recall"]), "mrr": mean(metrics["mrr"]),
                     "ndcg": mean(metrics["ndcg"]),
                     "passages": f"{sum(passages) / len(passages):.1f}" if passages else "—"})
        shown += (misses + hits)[:SHOWN_EXAMPLES]
    return {"rows": rows, "examples": shown,
            "has_gold": any(r["n"] for r in rows)}
