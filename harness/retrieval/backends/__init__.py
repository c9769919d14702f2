"""Retriever kinds, one module per kind, found by the registry (see harness/registry.py).

A kind module defines its config (a `RetrieverSpec` subclass registered with
`@RETRIEVERS.register(kind)`) whose `open()` returns a `harness.retrieval.store.VectorStore`;
it imports only the standard library and pydantic at top level. Modules whose names start with
"_" hold the stores themselves and are imported by `open()`.
"""

from harness.registry import RETRIEVERS

__all__ = ["RETRIEVERS"]
