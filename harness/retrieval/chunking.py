"""Paragraph-aware chunking by the embedder's tokens, with overlap: pure functions.

A document is split into paragraphs on blank lines and tokenized. A chunk is a contiguous run of
at most `chunk_tokens` tokens; its text is the document's text from its first token to its last
(the blank lines between its paragraphs included). Chunks are packed greedily:
- a chunk ends at a paragraph boundary whenever one fits, so whole paragraphs stay together;
- consecutive chunks of a document overlap: a chunk starts with the last `chunk_overlap` tokens
  of the one before. The overlap shrinks (to zero if need be) where keeping it would split a
  paragraph that fits in a chunk by itself: a whole paragraph wins over a full overlap;
- a paragraph longer than `chunk_tokens` is split by tokens (with the overlap).

The tokenizer is a parameter: a Hugging Face (fast) tokenizer, a SentenceTransformer, or any
callable text -> [(start, end), ...] character spans of its tokens, so tests can pass a toy one.
"""

from __future__ import annotations

import bisect
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.types import stable_hash

if TYPE_CHECKING:
    from harness.retrieval.corpus import Document

Spans = Sequence[tuple[int, int]]
SpanTokenizer = Callable[[str], Spans]

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class TextChunk:
    text: str
    start: int  # character offsets in the document's text
    end: int
    token_count: int


@dataclass(frozen=True)
class Chunk:
    """One chunk of one document, as the index stores it."""

    doc_id: str
    index: int  # position among its document's chunks
    text: str
    content_hash: str  # sha256 of the text and the chunking parameters
    token_count: int
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    occurrence: int = 0  # how many earlier chunks of the document have the same text

    def payload(self) -> dict[str, Any]:
        body = {"doc_id": self.doc_id, "chunk_index": self.index, "text": self.text,
                "source": self.source, "content_hash": self.content_hash,
                "token_count": self.token_count, "metadata": self.metadata}
        return {**body, "payload_hash": stable_hash(body)}


def point_id(chunk: Chunk, namespace: str = "") -> str:
    """A UUID derived from the chunk's document id and content (and a namespace: the index
    uses the embedder's identity), so the same chunk keeps its id across builds and is not
    re-embedded, while two documents sharing a paragraph keep two points."""
    digest = stable_hash([namespace, chunk.doc_id, chunk.content_hash, chunk.occurrence])
    return str(uuid.UUID(hex=digest[:32], version=5))


def chunk_hash(text: str, chunk_tokens: int, chunk_overlap: int) -> str:
    return stable_hash({"text": text, "chunk_tokens": chunk_tokens,
                        "chunk_overlap": chunk_overlap})


def span_tokenizer(tokenizer: Any) -> SpanTokenizer:
    """A text -> token character spans callable from a Hugging Face tokenizer (fast: it needs
    offsets), a SentenceTransformer (its tokenizer), or such a callable already."""
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None and hasattr(tokenizer, "encode"):  # a SentenceTransformer
        tokenizer = inner
    if hasattr(tokenizer, "convert_ids_to_tokens"):  # a Hugging Face tokenizer
        hf = tokenizer
        if not getattr(hf, "is_fast", False):
            raise TypeError("chunking needs a fast (Rust) tokenizer: it reads token offsets")

        def spans(text: str) -> Spans:
            encoded = hf(text, add_special_tokens=False, return_offsets_mapping=True,
                         verbose=False)
            return [(int(s), int(e)) for s, e in encoded["offset_mapping"]]

        return spans
    if not callable(tokenizer):
        raise TypeError(f"not a tokenizer: {type(tokenizer).__name__}")
    return tokenizer


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Character spans of the paragraphs of `text` (split on blank lines, whitespace-trimmed)."""
    found = []
    start = 0
    for match in [*_BLANK_LINE.finditer(text), None]:
        end = match.start() if match else len(text)
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            left = start + (len(piece) - len(piece.lstrip()))
            found.append((left, left + len(stripped)))
        if match:
            start = match.end()
    return found


def chunk_text(text: str, tokenizer: Any, chunk_tokens: int = 128,
               chunk_overlap: int = 16) -> list[TextChunk]:
    """The chunks of one text (see the module docstring)."""
    if chunk_tokens < 1:
        raise ValueError("chunk_tokens must be at least 1")
    if not 0 <= chunk_overlap < chunk_tokens:
        raise ValueError("chunk_overlap must be at least 0 and below chunk_tokens")
    tokenize = span_tokenizer(tokenizer)
    spans: list[tuple[int, int]] = []
    boundaries: list[int] = []  # token indices where a paragraph ends (exclusive)
    for p_start, p_end in paragraphs(text):
        for s, e in tokenize(text[p_start:p_end]):
            if e > s:
                spans.append((p_start + s, p_start + e))
        if spans and (not boundaries or boundaries[-1] != len(spans)):
            boundaries.append(len(spans))
    chunks: list[TextChunk] = []
    n = len(spans)
    start, prev_first = 0, -1  # first token not yet in a chunk; first token of the last chunk
    while start < n:
        overlap = 0 if not chunks else min(chunk_overlap, start - prev_first - 1)
        first = _word_start(spans, start - overlap, start)
        fits = bisect.bisect_right(boundaries, first + chunk_tokens) - 1
        if fits >= 0 and boundaries[fits] > start:  # whole paragraphs fit: end after the last
            end = boundaries[fits]
        else:
            following = boundaries[bisect.bisect_right(boundaries, start)]
            if following - start <= chunk_tokens:  # the paragraph fits if the overlap shrinks
                end = following
                first = _word_start(spans, max(first, end - chunk_tokens), start)
            else:  # a paragraph longer than a chunk: split it by tokens, between words
                end = snapped = first + chunk_tokens
                while snapped - 1 > start and _glued(spans, snapped):
                    snapped -= 1
                if snapped - first >= chunk_tokens // 2:  # not inside one giant "word"
                    end = snapped
        chunks.append(TextChunk(text[spans[first][0]:spans[end - 1][1]], spans[first][0],
                                spans[end - 1][1], end - first))
        prev_first, start = first, end
    return chunks


def _word_start(spans: Spans, first: int, start: int) -> int:
    """Move an overlap's first token forward to the start of a word (at most to `start`)."""
    while first < start and _glued(spans, first):
        first += 1
    return first


def _glued(spans: Spans, i: int) -> bool:
    """Token i continues the word before it (a "##piece" or punctuation, no space between)."""
    return 0 < i < len(spans) and spans[i][0] == spans[i - 1][1]


def chunk_document(document: Document, tokenizer: Any, chunk_tokens: int = 128,
                   chunk_overlap: int = 16) -> list[Chunk]:
    seen: dict[str, int] = {}
    chunks = []
    for index, piece in enumerate(chunk_text(document.text, tokenizer, chunk_tokens,
                                             chunk_overlap)):
        digest = chunk_hash(piece.text, chunk_tokens, chunk_overlap)
        occurrence = seen.get(digest, 0)
        seen[digest] = occurrence + 1
        chunks.append(Chunk(document.id, index, piece.text, digest, piece.token_count,
                            document.source, dict(document.metadata), occurrence))
    return chunks


def chunk_documents(documents: Iterable[Document], tokenizer: Any, chunk_tokens: int = 128,
                    chunk_overlap: int = 16) -> list[Chunk]:
    tokenize = span_tokenizer(tokenizer)
    return [chunk for document in documents
            for chunk in chunk_document(document, tokenize, chunk_tokens, chunk_overlap)]
