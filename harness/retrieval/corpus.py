"""Documents of a corpus: a folder of .md/.txt files, or a .jsonl file of {id, text, metadata}.

A file's document id is its path relative to the folder (POSIX separators), so the corpus keeps
its identity when the folder moves; a record's id is its `id`. Every bad input is one DataError
line naming the file (and line) and what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.types import stable_hash

FILE_SUFFIXES = (".md", ".txt")


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    source: str  # the relative file path, or the record's metadata.source, else "<file>#<id>"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return stable_hash({"id": self.id, "text": self.text, "source": self.source,
                            "metadata": self.metadata})


def corpus_hash(documents: Iterable[Document]) -> str:
    """The corpus's content: every document's id and content hash, order-independent."""
    return stable_hash(sorted((d.id, d.content_hash) for d in documents))


def load_corpus(path: str | Path, base_dir: Path | None = None) -> list[Document]:
    """The documents at `path` (relative paths resolve against `base_dir`), sorted by id."""
    path = Path(path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.is_dir():
        return _load_folder(path)
    if path.is_file():
        if path.suffix.lower() == ".jsonl":
            return _load_jsonl(path)
        raise DataError(f"corpus {path}: expected a folder of .md/.txt files or a .jsonl file")
    raise DataError(f"corpus folder {path} does not exist")


def _load_folder(folder: Path) -> list[Document]:
    files = sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in FILE_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise DataError(f"corpus folder {folder} has no .md or .txt files")
    documents = []
    for file in files:
        rel = file.relative_to(folder).as_posix()
        documents.append(Document(rel, _read_text(file), rel,
                                  {"source": rel, "format": file.suffix.lower().lstrip(".")}))
    return documents


def _read_text(file: Path) -> str:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DataError(f"corpus file {file}: cannot read it ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"corpus file {file}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                        f"offset {exc.start}); save it as UTF-8") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _load_jsonl(file: Path) -> list[Document]:
    text = _read_text(file)
    documents: list[Document] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object with `id` and `text`, got "
                            f"{type(record).__name__}")
        for key in ("id", "text"):
            if key not in record:
                raise DataError(f"{where}: missing `{key}` (each record needs `id` and `text`)")
        doc_id = record["id"]
        if isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or doc_id == "":
            raise DataError(f"{where}: `id` must be a non-empty string or an integer, got "
                            f"{doc_id!r}")
        doc_id = str(doc_id)
        if not isinstance(record["text"], str):
            raise DataError(f"{where}: `text` must be a string, got "
                            f"{type(record['text']).__name__}")
        metadata = record.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise DataError(f"{where}: `metadata` must be an object, got "
                            f"{type(metadata).__name__}")
        extra = set(record) - {"id", "text", "metadata"}
        if extra:
            raise DataError(f"{where}: unknown field(s) {', '.join(sorted(extra))} (a record "
                            "has `id`, `text` and `metadata`)")
        if doc_id in first_line:
            raise DataError(f"{where}: duplicate id {doc_id!r} (first on line "
                            f"{first_line[doc_id]})")
        first_line[doc_id] = number
        source = metadata.get("source")
        source = source if isinstance(source, str) and source else f"{file.name}#{doc_id}"
        documents.append(Document(doc_id, record["text"].replace("\r\n", "\n"), source,
                                  {**metadata, "source": source}))
    if not documents:
        raise DataError(f"corpus file {file} has no records")
    return sorted(documents, key=lambda d: d.id)
