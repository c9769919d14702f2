"""Reading JSONL files written line by line: whole records streamed with their byte offsets,
torn or broken lines skipped and reported by offset, records read back by offset.

The run store (harness/store.py) writes these files; the run tables (harness/run_tables.py)
and the readers of a run read them through here, so neither depends on the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class JsonlRead:
    records: list[dict[str, Any]]
    torn_offsets: list[int] = field(default_factory=list)  # byte offsets of skipped lines


def iter_jsonl(path: Path,
               torn: list[int] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(byte offset, record) of every whole record of a JSONL file, streamed; the offsets of the
    lines skipped (a torn tail, or any line that is not a whole JSON object, whatever its
    bytes) go to `torn`."""
    if not path.is_file():
        return
    offset = 0
    with open(path, "rb") as f:
        for raw in f:
            start = offset
            offset += len(raw)
            if not raw.endswith(b"\n"):
                if torn is not None:
                    torn.append(start)
                break
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                if raw.strip() and torn is not None:
                    torn.append(start)
                continue
            if isinstance(record, dict):
                yield start, record
            elif torn is not None:
                torn.append(start)


def read_at(path: Path, offsets: Iterable[int]) -> list[dict[str, Any]]:
    """The records whose lines start at `offsets` (in that order)."""
    out = []
    with open(path, "rb") as f:
        for offset in offsets:
            f.seek(int(offset))
            out.append(json.loads(f.readline().decode("utf-8")))
    return out


def read_jsonl_checked(path: Path) -> JsonlRead:
    """Every whole record of a JSONL file, and the byte offsets of the lines skipped (a torn
    tail, or any line that is not a whole JSON object, whatever its bytes)."""
    out = JsonlRead([])
    out.records.extend(record for _, record in iter_jsonl(path, out.torn_offsets))
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All whole records of a JSONL file; torn lines (from a killed writer) are skipped."""
    return read_jsonl_checked(path).records
