"""What the RAG arm adds per example over the prompt it builds on, on the demo suite.

    python bench/bench_rag.py [--suite suites/demo.yaml] [--limit 32]

Side by side in one process, on the same examples: retrieval for the whole golden set cold
(a fresh index folder: chunking + embedding the corpus, embedder load included) and warm (the
index built, no cache), then generation on the local engine for the RAG arm and for the arm it
builds on. Prints retrieval's share of the RAG arm's time per example (the issue's goal: under
5% of a demo run's wall time) and how much longer the RAG prompts make generation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.arms.base import ArmContext
from harness.golden import load_golden_set
from harness.retrieval.metrics import retrieval_metrics
from harness.retrieval.service import CorpusSearch
from harness.runner import resolve_engines
from harness.spec.suite import load_suite

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", default=str(REPO / "suites" / "demo.yaml"))
    parser.add_argument("--arm", default="rag")
    parser.add_argument("--limit", type=int, default=32, help="examples generated per arm")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    examples = [e for spec, name in zip(suite.golden_sets, suite.golden_set_names, strict=True)
                for e in load_golden_set(suite.resolve(spec.path), name=name).examples]
    rag_spec = suite.arm(args.arm)
    corpora = {n: c.model_copy(update={"index_dir": tempfile.mkdtemp(prefix="bench-rag-")})
               for n, c in suite.corpora.items()}

    timings = {}
    for label in ("cold", "warm"):
        search = CorpusSearch(corpora, suite.base_dir, None)
        ctx = ArmContext(suite, resolve_engines(suite), search)
        rag = ctx.arm(args.arm)
        started = time.perf_counter()
        rag.prepare(examples)
        timings[label] = time.perf_counter() - started
        ctx.close()
    # Retrieval quality on the golden set, in documents, at a few depths.
    search = CorpusSearch(corpora, suite.base_dir, None)
    corpus = rag_spec.corpus
    gold = [e.gold_doc_ids for e in examples]
    for k in (1, 2, 3, 5):
        hits = search.search(corpus, [e.user_text for e in examples], k=k)
        m = retrieval_metrics([[h.doc_id for h in row] for row in hits], gold, k)
        print(f"k={k}: recall@{k} {m[f'recall@{k}']:.3f}, MRR {m['mrr']:.3f}, "
              f"nDCG@{k} {m[f'ndcg@{k}']:.3f} over {int(m['queries'])} examples with gold ids")
    search.close()
    print(f"retrieval for {len(examples)} examples: cold {timings['cold']:.2f} s (index build "
          f"and embedder load included), warm {timings['warm']:.2f} s "
          f"({1000 * timings['warm'] / len(examples):.1f} ms per example)")

    engines = resolve_engines(suite)
    ctx = ArmContext(suite, engines, CorpusSearch(corpora, suite.base_dir, None))
    rag = ctx.arm(args.arm)
    inner_name = rag_spec.prompt or args.arm
    inner = ctx.arm(inner_name)
    subset = examples[: args.limit]
    rag.prepare(subset)
    spec = suite.engine_specs()[rag.engine]
    engine = spec.build(suite.engine_context(rag.engine), engines[rag.engine])
    try:
        seconds, tokens = {}, {}
        for arm in (inner, rag):
            requests = [arm.build(e) for e in subset]
            started = time.perf_counter()
            responses = engine.generate(requests)
            seconds[arm.name] = time.perf_counter() - started
            tokens[arm.name] = sum(r.prompt_tokens for r in responses) / len(responses)
    finally:
        engine.close()
        ctx.close()
    per_rag = seconds[rag.name] / len(subset)
    per_inner = seconds[inner.name] / len(subset)
    per_retrieval = timings["warm"] / len(examples)
    per_cold = timings["cold"] / len(examples)
    print(f"generation per example ({len(subset)} examples): {inner.name} {per_inner:.2f} s "
          f"({tokens[inner.name]:.0f} prompt tokens), {rag.name} {per_rag:.2f} s "
          f"({tokens[rag.name]:.0f} prompt tokens): x{per_rag / per_inner:.2f}")
    print(f"retrieval share of the RAG arm's time per example: warm "
          f"{100 * per_retrieval / (per_rag + per_retrieval):.2f}%, cold (whole index build "
          f"spread over the golden set) "
          f"{100 * per_cold / (per_rag + per_cold):.2f}%")


if __name__ == "__main__":
    main()
