"""The report's retrieval section: per retrieving arm, how well retrieval found the gold
documents (recall@k, MRR, nDCG@k counted in documents), and examples with their sources.

Pure: reads the run's manifest and tables, returns plain data for the template. An example
counts only when the golden set gives it `gold_doc_ids`.
"""

from __future__ import annotations

from typing import Any

from harness.report.examples import clip
from harness.retrieval.metrics import ndcg_at_k, ranked_documents, recall_at_k, reciprocal_rank
from harness.store import RunData

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


def retrieval_section(run: RunData) -> dict[str, Any] | None:
    """Streams each retrieving arm's responses (a chunk at a time) for the metrics; reads back
    the questions of the few examples it shows."""
    manifest, tables = run.manifest, run.tables
    arms = [a for a in manifest.arms if a.has_retrieval]
    if not arms:
        return None
    gold = tables.examples.gold_doc_ids  # position -> gold documents
    rows, shown = [], []
    for arm in arms:
        k = retrieval_k(arm.detail) or 0
        metrics: dict[str, list[float]] = {"recall": [], "mrr": [], "ndcg": []}
        passages, misses, hits = [], [], []
        for pos, r in tables.responses.iter_records(arm.name):
            contexts = _list(r.get("contexts"))
            passages.append(len(contexts))
            docs = [str(c.get("doc_id", "")) for c in contexts if isinstance(c, dict)]
            wanted = gold.get(pos) or []
            if not wanted:
                continue
            metrics["recall"].append(recall_at_k(docs, wanted, k or len(docs)))
            metrics["mrr"].append(reciprocal_rank(docs, wanted))
            metrics["ndcg"].append(ndcg_at_k(docs, wanted, k or len(docs)))
            found = bool(set(ranked_documents(docs)) & set(wanted))
            keep = misses if not found else hits
            if len(keep) < SHOWN_EXAMPLES:  # only what can be shown is kept
                keep.append({"arm": arm.name, "uid": str(tables.positions.uids[pos]),
                             "pos": pos, "gold": ", ".join(wanted),
                             "answer": clip(r.get("text"), 300),
                             "sources": ", ".join(
                                 f"{c.get('doc_id')} ({float(c.get('score', 0)):.2f})"
                                 + (" ✓" if str(c.get("doc_id")) in wanted else "")
                                 for c in contexts if isinstance(c, dict)) or "none",
                             "found": found})
        n = len(metrics["recall"])

        def mean(values: list[float]) -> str:
            return f"{sum(values) / len(values):.3f}" if values else "—"

        rows.append({"arm": arm.name, "k": k or "—", "n": n,
                     "recall": mean(metrics["recall"]), "mrr": mean(metrics["mrr"]),
                     "ndcg": mean(metrics["ndcg"]),
                     "passages": f"{sum(passages) / len(passages):.1f}" if passages else "—"})
        shown += (misses + hits)[:SHOWN_EXAMPLES]
    asked = sorted({e["pos"] for e in shown if e["pos"] < tables.examples.n})
    questions = {p: r.get("prompt", "") for p, r in zip(asked, tables.examples.records(asked),
                                                         strict=True)}
    for entry in shown:
        entry["question"] = clip(questions.get(entry.pop("pos"), ""), 200)
    return {"rows": rows, "examples": shown,
            "has_gold": any(r["n"] for r in rows)}
