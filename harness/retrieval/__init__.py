"""Retrieval for RAG arms: load a corpus, chunk it by embedder tokens, index it incrementally
in a vector store (a retriever kind), search it, and measure retrieval.

- corpus.py: documents from a folder of .md/.txt files or a .jsonl of records
- chunking.py: paragraph-aware token chunking (pure functions)
- index.py: the incremental index build and its manifest
- retriever.py: `Retriever` (embed a batch of queries, search) and `open_retriever`
- metrics.py: recall@k, MRR, nDCG@k counted in documents
- store.py: the interface every vector store implements, and `Hit`
- backends/: the retriever kinds (RETRIEVERS registry): qdrant_edge (embedded), qdrant_server

This package's __init__ and backends/ import only the standard library and pydantic at top
level (the registry imports every kind module); numpy, sentence-transformers and the Qdrant
libraries are imported by the modules that use them.
"""

from harness.registry import RETRIEVERS

__all__ = ["RETRIEVERS"]
