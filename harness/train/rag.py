"""Training on retrieval-augmented prompts (`train.rag_arm`): each training question gets the
passages the suite's RAG arm retrieves for it, rendered exactly as that arm renders them, so the
adapter learns to use context the way the tuned+RAG arm will show it.

Retrieval goes through the same cached step as `harness run` (the suite's response cache file),
so re-training on the same data and corpus retrieves nothing again.
"""

from __future__ import annotations

from dataclasses import replace

from harness.train.job import TrainJob
from harness.types import Example


def rag_messages(job: TrainJob, examples: list[Example]) -> list[Example]:
    """`examples` with the messages the suite's RAG arm `job.rag_arm` would send."""
    from harness.arms.base import ArmContext
    from harness.retrieval.cache import RetrievalCache
    from harness.retrieval.service import CorpusSearch
    from harness.spec.suite import load_suite

    suite = load_suite(job.config_path, require_adapters=False)
    cache = RetrievalCache(suite.cache_path())
    search = CorpusSearch(suite.corpora, suite.base_dir, cache)
    try:
        arm = ArmContext(suite, {}, search).arm(str(job.rag_arm))
        arm.prepare(examples)  # one batched retrieval for the whole training set
        return [replace(e, messages=tuple(arm.messages(e))) for e in examples]
    finally:
        search.close()
        cache.close()
