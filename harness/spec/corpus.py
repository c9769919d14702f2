"""The corpus a RAG arm retrieves from: where its documents are, how they are chunked and
embedded, where the index lives and which retriever kind holds it.

Imports only the standard library, pydantic and the retriever registry (whose kind modules are
standard library + pydantic too); loading, chunking and indexing live in harness/retrieval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    SerializeAsAny,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from harness.registry import RETRIEVERS
from harness.spec.base import Strict
from harness.spec.retriever import RetrieverSpec


def default_retriever() -> RetrieverSpec:
    return RETRIEVERS.get(RETRIEVERS.default_kind or "qdrant_edge")()


def _retriever_schema(schema: dict[str, Any]) -> None:
    # The field is typed by the base class (kinds dispatch at validation time); the schema
    # shows every registered kind instead.
    description = schema.get("description")
    schema.clear()
    schema["oneOf"] = [config.model_json_schema() for config in RETRIEVERS.kinds().values()]
    if description:
        schema["description"] = description


class CorpusSpec(Strict):
    path: str = Field(description="a folder of .md/.txt files (searched recursively), or a "
                      ".jsonl file of records {id, text, metadata}")
    embedder: str | None = Field(None, description="a local sentence-transformers folder; "
                                 "default: the embedded all-MiniLM-L6-v2")
    chunk_tokens: int = Field(128, ge=8, le=8192, description="most embedder tokens per chunk")
    chunk_overlap: int = Field(16, ge=0, description="tokens repeated from the end of one "
                               "chunk at the start of the next chunk of a document")
    index_dir: str | None = Field(None, description="where the index lives; default: a folder "
                                  "under the harness cache (indexes/)")
    retriever: SerializeAsAny[RetrieverSpec] = Field(
        default_factory=default_retriever,
        description="where the vectors live and how they are searched: a retriever kind "
        "(default qdrant_edge, the embedded Qdrant engine)",
        json_schema_extra=_retriever_schema)

    @field_validator("retriever", mode="wrap")
    @classmethod
    def _retriever_by_kind(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Dispatch on `kind` through the registry at validation time, so kinds registered
        # later (plugins, tests) are accepted; a nested error keeps its location.
        if isinstance(value, RetrieverSpec):
            return value
        if value is None:
            return default_retriever()
        if not isinstance(value, dict):
            raise PydanticCustomError("retriever_type", "expected a mapping with a `kind` "
                                      "(one of: {known})",
                                      {"known": ", ".join(RETRIEVERS.kinds())})
        kind = RETRIEVERS.kind_of(value)
        if kind not in RETRIEVERS.kinds():
            raise PydanticCustomError("unknown_kind", "{message}",
                                      {"message": RETRIEVERS.unknown_message(kind)})
        return RETRIEVERS.get(kind).model_validate(value)

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> CorpusSpec:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                             f"chunk_tokens ({self.chunk_tokens})")
        return self

    def corpus_path(self, base_dir: Path | None = None) -> Path:
        return _resolve(self.path, base_dir)

    def embedder_path(self, base_dir: Path | None = None) -> Path | None:
        return None if self.embedder is None else _resolve(self.embedder, base_dir)

    def index_path(self, base_dir: Path | None = None) -> Path | None:
        """The explicit index folder, or None for the default one under the cache (its name
        depends on the embedder, so harness.retrieval.index computes it)."""
        return None if self.index_dir is None else _resolve(self.index_dir, base_dir)

    def chunking(self) -> dict[str, int]:
        return {"chunk_tokens": self.chunk_tokens, "chunk_overlap": self.chunk_overlap}


def _resolve(value: str, base_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path
