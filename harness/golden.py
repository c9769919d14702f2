"""Golden sets: held-out examples in the formats practitioners already have.

JSONL in instruction format ({"instruction", "input", "output"}) or chat format ({"messages"}
whose last turn is the assistant's reference), and CSV. Every example gets a stable id (given,
or derived from its content), optional tags and metadata. The same loader reads training data.
"""

from __future__ import annotations

import csv
import json
import marshal
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, overload

from harness.errors import DataError
from harness.types import Example, Message, stable_hash

ROLES = {"system", "user", "assistant"}
INSTRUCTION_KEYS = {"instruction", "input", "output", "system"}
COMMON_KEYS = {"id", "tags", "metadata", "gold_doc_ids"}
DEFAULT_CSV_COLUMNS = {"id": "id", "instruction": "instruction", "input": "input",
                       "output": "output", "tags": "tags", "gold_doc_ids": "gold_doc_ids"}


class ExampleStore(Sequence[Example]):
    """Examples kept compact and rebuilt when read: each is marshal-encoded into one growing
    buffer (about a quarter of the ~1 KB its objects take, and outside Python's small-object
    heap, so it is handed back whole when the store goes), so a run holding a golden set of
    100,000 examples costs tens of megabytes, not a hundred. Reading gives an equal Example,
    not the same object."""

    def __init__(self, examples: Iterable[Example] = ()):
        self._buffer = bytearray()
        self._ends = array("q")  # where each example's bytes end in the buffer
        for example in examples:
            self.append(example)

    def append(self, e: Example) -> None:
        self._buffer += marshal.dumps((
            e.id, tuple((m["role"], m["content"]) for m in e.messages), e.reference, e.tags,
            e.metadata, e.golden_set, e.gold_doc_ids))
        self._ends.append(len(self._buffer))

    def _decode(self, i: int) -> Example:
        start = self._ends[i - 1] if i else 0
        ex_id, messages, reference, tags, metadata, golden_set, gold = marshal.loads(
            memoryview(self._buffer)[start:self._ends[i]])
        return Example(id=ex_id, messages=tuple({"role": r, "content": c} for r, c in messages),
                       reference=reference, tags=tags, metadata=metadata,
                       golden_set=golden_set, gold_doc_ids=gold)

    @classmethod
    def chain(cls, parts: Iterable[Sequence[Example]]) -> ExampleStore:
        """One store of the examples of several, in order (stores are copied as bytes, not
        re-encoded)."""
        out = cls()
        for part in parts:
            if isinstance(part, ExampleStore):
                base = len(out._buffer)
                out._buffer += part._buffer
                out._ends.extend(base + end for end in part._ends)
            else:
                for example in part:
                    out.append(example)
        return out

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> Example: ...

    @overload
    def __getitem__(self, index: slice) -> list[Example]: ...

    def __getitem__(self, index: int | slice) -> Example | list[Example]:
        if isinstance(index, slice):
            return [self._decode(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("example index out of range")
        return self._decode(index)

    def __iter__(self) -> Iterator[Example]:
        return (self._decode(i) for i in range(len(self)))


@dataclass
class GoldenSet:
    name: str
    path: Path
    examples: Sequence[Example]  # a list, or an ExampleStore (load_golden_set(compact=True))
    warnings: list[str] = field(default_factory=list)
    guard: bool = False

    @property
    def content_hash(self) -> str:
        # Order-independent: re-sorting a file does not make it a different golden set.
        return stable_hash(sorted((e.id, e.content_hash()) for e in self.examples))


def normalize_text(text: str) -> str:
    """Lowercase, drop punctuation, collapse whitespace: what "the same question" means."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(text.split())


def load_golden_set(path: Path, *, name: str | None = None, fmt: str = "auto",
                    columns: dict[str, str] | None = None, limit: int | None = None,
                    guard: bool = False, compact: bool = False) -> GoldenSet:
    """A golden set; compact=True streams the file into an ExampleStore (a run's golden sets:
    they may hold 100,000 examples), else the examples are a list."""
    path = Path(path)
    name = name or path.stem
    examples: Sequence[Example]
    if compact:
        examples = ExampleStore()
        ids: set[str] = set()
        duplicates: set[str] = set()
        n = 0
        for example in _iter_examples(path, fmt, columns, name):
            n += 1
            if example.id in ids:
                duplicates.add(example.id)
            ids.add(example.id)
            if limit is None or len(examples) < limit:
                examples.append(example)
        _check_examples(path, n, duplicates)
    else:
        examples = load_examples(path, fmt=fmt, columns=columns, source=name)
        if limit is not None:
            examples = examples[:limit]
    golden = GoldenSet(name=name, path=path, examples=examples, guard=guard)
    golden.warnings.extend(duplicate_input_warnings(path, examples))
    return golden


def load_examples(path: Path, *, fmt: str = "auto", columns: dict[str, str] | None = None,
                  source: str = "") -> list[Example]:
    """Read every example of a JSONL or CSV file; raise DataError naming file and line."""
    path = Path(path)
    examples = list(_iter_examples(path, fmt, columns, source))
    ids = Counter(e.id for e in examples)
    _check_examples(path, len(examples), {i for i, n in ids.items() if n > 1})
    return examples


def _iter_examples(path: Path, fmt: str, columns: dict[str, str] | None,
                   source: str) -> Iterator[Example]:
    """Every example of a JSONL or CSV file, streamed; DataError names file and line."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if fmt == "csv" or (fmt == "auto" and path.suffix.lower() == ".csv"):
        try:
            yield from _read_csv(path, columns or {}, source)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save "
                            "the file as UTF-8") from None
        except csv.Error as exc:
            raise DataError(f"{path}: malformed CSV ({exc})") from None
    else:
        yield from _read_jsonl(path, fmt, source)


def _check_examples(path: Path, n: int, duplicates: set[str]) -> None:
    if not n:
        raise DataError(f"{path}: no examples (the file is empty)")
    if duplicates:
        shown = ", ".join(sorted(duplicates)[:5]) + (" ..." if len(duplicates) > 5 else "")
        raise DataError(f"{path}: duplicate example ids: {shown}")


def duplicate_input_warnings(path: Path, examples: list[Example]) -> list[str]:
    seen: dict[str, str] = {}
    warnings = []
    for e in examples:
        key = normalize_text(" ".join(m["content"] for m in e.messages))
        if key in seen:
            warnings.append(f"{path}: examples {seen[key]} and {e.id} have the same input")
        else:
            seen[key] = e.id
    return warnings


def _read_jsonl(path: Path, fmt: str, source: str):
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not UTF-8 text (byte {exc.start} of the "
                                f"line: {exc.reason}); save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object per line")
            yield _example_from_record(record, fmt, f"{path}:{lineno}", source)


def _read_csv(path: Path, columns: dict[str, str], source: str):
    mapping = {**DEFAULT_CSV_COLUMNS, **columns}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        for needed in ("instruction", "output"):
            if mapping[needed] not in header:
                raise DataError(f"{path}:1: CSV has no column '{mapping[needed]}' "
                                f"(columns: {', '.join(header)})")
        for lineno, row in enumerate(reader, start=2):
            record: dict[str, Any] = {key: row.get(col) for key, col in mapping.items()
                                      if row.get(col) not in (None, "")}
            for listed in ("tags", "gold_doc_ids"):  # "a; b" or "a, b" in one cell
                if listed in record:
                    record[listed] = [t.strip() for t in re.split(r"[;,]", record[listed])
                                      if t.strip()]
            extra = {k: v for k, v in row.items() if k not in mapping.values()}
            if extra:
                record["metadata"] = extra
            yield _example_from_record(record, "instruction", f"{path}:{lineno}", source)


def _example_from_record(record: dict[str, Any], fmt: str, where: str, source: str) -> Example:
    if fmt == "auto":
        fmt = "chat" if "messages" in record else "instruction"
    if fmt == "chat":
        prompt, reference = _chat_turns(record.get("messages"), where)
        known = {"messages"} | COMMON_KEYS
    else:
        prompt, reference = _instruction_turns(record, where)
        known = INSTRUCTION_KEYS | COMMON_KEYS
    tags = record.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise DataError(f"{where}: 'tags' must be a list of strings")
    gold = record.get("gold_doc_ids") or []
    if isinstance(gold, str):
        gold = [gold]
    if not isinstance(gold, list) or not all(isinstance(g, str | int) for g in gold):
        raise DataError(f"{where}: 'gold_doc_ids' must be a list of corpus document ids")
    metadata = dict(record.get("metadata") or {})
    metadata.update({k: v for k, v in record.items() if k not in known})
    given_id = record.get("id")
    example_id = str(given_id) if given_id not in (None, "") else ""
    example = Example(id=example_id, messages=tuple(prompt), reference=reference,
                      tags=tuple(tags), metadata=metadata, golden_set=source,
                      gold_doc_ids=tuple(str(g) for g in gold))
    if not example_id:
        example = replace(example, id="h-" + example.content_hash()[:12])
    return example


def _instruction_turns(record: dict[str, Any], where: str) -> tuple[list[Message], str]:
    instruction = record.get("instruction")
    output = record.get("output")
    if not isinstance(instruction, str) or not instruction.strip():
        raise DataError(f"{where}: expected a non-empty string 'instruction' "
                        "(instruction format) or a 'messages' list (chat format)")
    if not isinstance(output, str):
        raise DataError(f"{where}: expected a string 'output' (the reference answer)")
    extra_input = record.get("input") or ""
    user = f"{instruction}\n\n{extra_input}" if extra_input else instruction
    turns: list[Message] = []
    if record.get("system"):
        turns.append({"role": "system", "content": str(record["system"])})
    turns.append({"role": "user", "content": user})
    return turns, output


def _chat_turns(messages: Any, where: str) -> tuple[list[Message], str]:
    if not isinstance(messages, list) or len(messages) < 2:
        raise DataError(f"{where}: 'messages' must be a list of at least a user and an "
                        "assistant turn")
    turns: list[Message] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) \
                or m["role"] not in ROLES or not isinstance(
                m.get("content"), str):
            raise DataError(f"{where}: messages[{i}] must be {{'role': system|user|assistant, "
                            "'content': string}")
        turns.append({"role": m["role"], "content": m["content"]})
    if turns[-1]["role"] != "assistant":
        raise DataError(f"{where}: the last message must be the assistant's reference answer")
    if not any(t["role"] == "user" for t in turns[:-1]):
        raise DataError(f"{where}: 'messages' has no user turn before the reference")
    return turns[:-1], turns[-1]["content"]
