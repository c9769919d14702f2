"""Load-time checks of a corpus a RAG arm uses: the documents load (a folder of .md/.txt files or
a JSONL, UTF-8, readable) and the embedder exists. Called by the arm's `problems()`, so
`harness validate` refuses what indexing would fail on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.retrieval.corpus import load_corpus
from harness.retrieval.index import plan_index
from harness.spec.corpus import CorpusSpec


def corpus_problems(name: str, spec: CorpusSpec, base_dir: Path) -> list[tuple[Any, ...]]:
    """(location under `corpora.<name>`, message, error class) for each problem found."""
    loc = ("@corpora", name)
    try:
        plan = plan_index(spec, base_dir)
        load_corpus(plan.corpus_path)
    except HarnessError as exc:
        field = "embedder" if exc.message.startswith("corpus.embedder") else "path"
        return [((*loc, field), exc.message.removeprefix(f"corpus.{field}: "), type(exc))]
    return [((*loc, "retriever", *where), message)
            for where, message in spec.retriever.problems(plan.context)]
