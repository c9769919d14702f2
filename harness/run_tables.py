"""Compact, columnar views of a run directory, each built in one streaming pass over its file.

A run of 100,000 examples and three arms has 300,000 response lines and nearly a million score
lines: as dicts, or as DataFrames of Python objects, they cost gigabytes. Decisions and reports
need far less, and only numbers: per example its position, golden set and tags; per arm and
example the numbers of its response (tokens, latency, cached, failed) and where its line is in
responses.jsonl; per scorer, arm and example the value and whether the scorer failed. These are
numpy arrays of a few bytes per example and column. Texts (prompts, outputs) are read back by
byte offset for the few examples a report shows, and streamed for the Parquet export.

As in the DataFrames of `RunData`, the last line of an (arm, example) or (arm, example, scorer)
wins (a resumed run appends what it redid), and a line without a `uid` (a run written before
(set, id) identity) gets one from its golden set and id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.jsonl_io import iter_jsonl, read_at
from harness.types import example_uid


def _number(value: Any) -> float:
    """pd.to_numeric(errors="coerce") for one JSON value."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def _truthy(value: Any) -> bool:
    """fillna(False).astype(bool) for one JSON value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


class Positions:
    """uid -> position: the run's examples first (file order, first occurrence), then any uid
    met only in responses or scores (kept so counts match the files)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.uids: list[str] = []

    def __len__(self) -> int:
        return len(self.uids)

    def of(self, uid: str) -> int:
        pos = self.index.get(uid)
        if pos is None:
            pos = self.index[uid] = len(self.uids)
            self.uids.append(uid)
        return pos

    def lookup(self, uids: Iterable[str]) -> np.ndarray:
        """Positions of `uids` (-1 for an unknown one)."""
        get = self.index.get
        return np.fromiter((get(str(u), -1) for u in uids), dtype=np.int64)


class _Columns:
    """Named numpy columns over positions, grown (doubled) as positions are added."""

    def __init__(self, spec: dict[str, tuple[Any, Any]], capacity: int):
        self._spec = spec  # name -> (dtype, fill)
        self.capacity = max(16, capacity)
        for name, (dtype, fill) in spec.items():
            setattr(self, name, np.full(self.capacity, fill, dtype=dtype))

    def ensure(self, pos: int) -> None:
        if pos < self.capacity:
            return
        new = max(pos + 1, 2 * self.capacity)
        for name, (dtype, fill) in self._spec.items():
            grown = np.full(new, fill, dtype=dtype)
            old = getattr(self, name)
            grown[:old.size] = old
            setattr(self, name, grown)
        self.capacity = new

    def trim(self, size: int) -> None:
        """Cut every column to the run's positions (or pad them to it)."""
        self.ensure(size - 1)
        for name in self._spec:
            setattr(self, name, getattr(self, name)[:size])
        self.capacity = size


@dataclass
class ExampleTable:
    """The run's examples, one per uid (the first line of a uid wins, as drop_duplicates)."""

    path: Path
    n: int  # distinct examples: positions 0..n-1
    rows: int  # lines, repeats included
    uids: np.ndarray  # object, per position
    golden_sets: np.ndarray  # object
    golden_set_names: list[str]  # in order of first appearance
    tags: dict[str, np.ndarray]  # tag -> positions having it, ascending
    offsets: np.ndarray  # int64: where each example's line starts in examples.jsonl
    gold_doc_ids: dict[int, list[str]] = field(default_factory=dict)  # positions naming some

    def records(self, positions: Iterable[int]) -> list[dict[str, Any]]:
        """The examples.jsonl records at these positions, each with its uid."""
        positions = [int(p) for p in positions]
        out = read_at(self.path, self.offsets[positions]) if positions else []
        for pos, record in zip(positions, out, strict=True):
            record["uid"] = str(self.uids[pos])
        return out


def read_examples(path: Path, positions: Positions, torn: list[int]) -> ExampleTable:
    sets: list[str] = []
    offsets: list[int] = []
    tags: dict[str, list[int]] = {}
    gold: dict[int, list[str]] = {}
    names: dict[str, None] = {}
    interned: dict[str, str] = {}
    rows = 0
    for offset, r in iter_jsonl(path, torn):
        rows += 1
        golden = r.get("golden_set")
        golden = "nan" if golden is None else str(golden)  # as DataFrame.astype(str) reads it
        golden = interned.setdefault(golden, golden)
        names.setdefault(golden, None)
        uid = r.get("uid")
        if uid is None:  # a run before (set, id) identity: every id was set-unique then
            uid = example_uid(r.get("golden_set", "") or "", str(r.get("id")))
        uid = str(uid)
        if uid in positions.index:
            continue
        pos = positions.of(uid)
        sets.append(golden)
        offsets.append(offset)
        listed = r.get("tags")
        for tag in listed if isinstance(listed, list | tuple) else []:
            if tag is not None:
                tags.setdefault(str(tag), []).append(pos)
        docs = r.get("gold_doc_ids")
        if isinstance(docs, list | tuple) and docs:
            gold[pos] = [str(d) for d in docs]
    n = len(sets)
    return ExampleTable(
        path=path, n=n, rows=rows, uids=np.array(positions.uids[:n], dtype=object),
        golden_sets=np.array(sets, dtype=object),
        golden_set_names=list(names),
        tags={t: np.asarray(p, dtype=np.int64) for t, p in sorted(tags.items())},
        offsets=np.asarray(offsets, dtype=np.int64), gold_doc_ids=gold)


class _UidOf:
    """A record's uid: its own, or (older runs) derived from its golden set and example id,
    the golden set looked up among the examples when the line does not say."""

    def __init__(self, examples: ExampleTable):
        self._examples = examples
        self._set_of: dict[str, str] | None = None

    def __call__(self, r: dict[str, Any]) -> str:
        uid = r.get("uid")
        if uid is not None:
            return str(uid)
        example_id = str(r.get("example_id"))
        golden = r.get("golden_set")
        if not golden:
            if self._set_of is None:
                self._set_of = {}
                for _, e in iter_jsonl(self._examples.path):
                    self._set_of.setdefault(str(e.get("id")), e.get("golden_set", ""))
            golden = self._set_of.get(example_id, "")
        return example_uid(golden, example_id)


# Token counts and latencies as float32 (exact for counts below 16 million; latencies to 7
# digits): read as float64 wherever they are summed.
_RESPONSE_COLUMNS = {"present": (bool, False), "offset": (np.int64, -1),
                     "cached": (bool, False), "error": (bool, False),
                     "prompt_tokens": (np.float32, np.nan),
                     "completion_tokens": (np.float32, np.nan),
                     "latency_s": (np.float32, np.nan)}


@dataclass
class ResponseTable:
    """Per arm, the numbers of each example's last response line."""

    path: Path
    arms: list[str]  # in order of first appearance
    columns: dict[str, _Columns]

    def arm(self, name: str) -> _Columns | None:
        return self.columns.get(name)

    @property
    def rows(self) -> int:
        """Responses once each (arm, example), as len(RunData.responses)."""
        return sum(int(c.present.sum()) for c in self.columns.values())

    def count(self, column: str) -> int:
        return sum(int((getattr(c, column) & c.present).sum()) for c in self.columns.values())

    def records(self, pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], dict]:
        """The last response line of each (arm, position) that has one."""
        wanted = []
        for arm, pos in pairs:
            cols = self.columns.get(arm)
            if cols is not None and 0 <= pos < cols.capacity and cols.present[pos]:
                wanted.append(((arm, pos), int(cols.offset[pos])))
        wanted.sort(key=lambda w: w[1])
        lines = read_at(self.path, [offset for _, offset in wanted])
        return {key: record for (key, _), record in zip(wanted, lines, strict=True)}

    def texts(self, pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        return {key: str(r.get("text") or "") for key, r in self.records(pairs).items()}

    def iter_records(self, arm: str, *,
                     chunk: int = 2048) -> Iterator[tuple[int, dict[str, Any]]]:
        """(position, last response line) of every example an arm answered, in the order of
        responses.jsonl, a chunk of lines read at a time."""
        cols = self.columns.get(arm)
        if cols is None:
            return
        where = np.flatnonzero(cols.present)
        where = where[np.argsort(cols.offset[where], kind="stable")]  # read forwards
        for start in range(0, where.size, chunk):
            part = where[start:start + chunk]
            lines = read_at(self.path, cols.offset[part])
            yield from zip(part.tolist(), lines, strict=True)

def read_responses(path: Path, positions: Positions, uid_of: _UidOf,
                   torn: list[int]) -> ResponseTable:
    capacity = len(positions)
    columns: dict[str, _Columns] = {}
    for offset, r in iter_jsonl(path, torn):
        arm = str(r.get("arm"))
        cols = columns.get(arm)
        if cols is None:
            cols = columns[arm] = _Columns(_RESPONSE_COLUMNS, capacity)
        pos = positions.of(uid_of(r))
        cols.ensure(pos)
        cols.present[pos] = True
        cols.offset[pos] = offset
        cols.cached[pos] = _truthy(r.get("cached"))
        cols.error[pos] = r.get("error") is not None
        cols.prompt_tokens[pos] = _number(r.get("prompt_tokens"))
        cols.completion_tokens[pos] = _number(r.get("completion_tokens"))
        cols.latency_s[pos] = _number(r.get("latency_s"))
    return ResponseTable(path, list(columns), columns)


_SCORE_COLUMNS = {"present": (bool, False), "failed": (bool, False),
                  "value": (np.float64, np.nan)}


@dataclass
class ScoreTable:
    """Per scorer and arm, each example's last score: value (NaN: none) and evaluator error."""

    scorers: list[str]  # in order of first appearance
    arms: list[str]
    columns: dict[tuple[str, str], _Columns]
    # (scorer, arm, position) -> (line number, error) of the scores that failed
    errors: dict[tuple[str, str, int], tuple[int, str]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Scores once each (arm, example, scorer), as len(RunData.scores)."""
        return sum(int(c.present.sum()) for c in self.columns.values())

    def column(self, scorer: str, arm: str) -> _Columns | None:
        return self.columns.get((scorer, arm))

    def of_scorer(self, scorer: str) -> list[_Columns]:
        return [c for (s, _), c in self.columns.items() if s == scorer]


def read_scores(path: Path, positions: Positions, uid_of: _UidOf,
                torn: list[int]) -> ScoreTable:
    capacity = len(positions)
    columns: dict[tuple[str, str], _Columns] = {}
    scorers: dict[str, None] = {}
    arms: dict[str, None] = {}
    errors: dict[tuple[str, str, int], tuple[int, str]] = {}
    for line, (_, r) in enumerate(iter_jsonl(path, torn)):
        scorer, arm = str(r.get("scorer")), str(r.get("arm"))
        cols = columns.get((scorer, arm))
        if cols is None:
            cols = columns[(scorer, arm)] = _Columns(_SCORE_COLUMNS, capacity)
            scorers.setdefault(scorer, None)
            arms.setdefault(arm, None)
        pos = positions.of(uid_of(r))
        cols.ensure(pos)
        cols.present[pos] = True
        cols.value[pos] = _number(r.get("value"))
        error = r.get("error")
        failed = error is not None and str(error) != ""
        cols.failed[pos] = failed
        if failed:
            errors[(scorer, arm, pos)] = (line, str(error))
        else:
            errors.pop((scorer, arm, pos), None)
    return ScoreTable(list(scorers), list(arms), columns, errors)


@dataclass
class RunTables:
    positions: Positions  # shared: a position is the same example in every table
    examples: ExampleTable
    responses: ResponseTable
    scores: ScoreTable


def read_tables(run_dir: Path, names: tuple[str, str, str],
                torn: dict[str, list[int]]) -> RunTables:
    """The compact tables of a run directory (examples, responses, scores file names)."""
    positions = Positions()
    examples_name, responses_name, scores_name = names
    offsets: dict[str, list[int]] = {name: [] for name in names}
    examples = read_examples(run_dir / examples_name, positions, offsets[examples_name])
    uid_of = _UidOf(examples)
    responses = read_responses(run_dir / responses_name, positions, uid_of,
                               offsets[responses_name])
    scores = read_scores(run_dir / scores_name, positions, uid_of, offsets[scores_name])
    size = len(positions)
    for cols in (*responses.columns.values(), *scores.columns.values()):
        cols.trim(size)
    for name, found in offsets.items():
        if found:
            torn[name] = found
    return RunTables(positions, examples, responses, scores)
