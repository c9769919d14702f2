"""The run directory and the response cache: everything a run produces, written as produced.

A run directory holds a typed manifest (harness/manifest.py) and three JSONL files (examples,
responses, scores). Every line carries the key of everything that produced it: a response line
the request key (engine identity + request), a score line its scorer key and the request key of
the response it scored, so nothing stale is ever served from it. Each line is appended with one
checked write on a file opened in append mode: a killed process leaves at most one torn last
line, which readers skip (whatever its bytes) and report with its byte offset. The manifest and
examples are written to a unique temporary file, fsynced, then renamed.

A run directory is locked (flock) by the process writing it: a second `harness run` of the same
suite cannot append to it. The response cache is one sqlite file (WAL) shared by the runs of a
project, safe for concurrent runs.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import RunError
from harness.jsonl_io import (  # noqa: F401  (re-exported: the run store's readers)
    JsonlRead,
    iter_jsonl,
    read_at,
    read_jsonl,
    read_jsonl_checked,
)
from harness.manifest import RunManifest, read_manifest
from harness.types import Request, Response, example_uid, stable_hash

if TYPE_CHECKING:  # pandas is imported by what reads runs back, not by what writes them
    import pandas as pd

    from harness.run_tables import RunTables

MANIFEST = "manifest.json"
EXAMPLES = "examples.jsonl"
RESPONSES = "responses.jsonl"
SCORES = "scores.jsonl"
JUDGEMENTS = "judgements.jsonl"  # pairwise judges: one line per example and pair of arms
LOCK = ".lock"
GET_CHUNK = 500  # cache keys looked up per sqlite query (well under its 32,766 variables)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes_atomic(path: Path, blob: bytes) -> None:
    """Write a unique temporary file in the same folder, fsync it, then rename over `path`."""
    write_chunks_atomic(path, (blob,))


def write_chunks_atomic(path: Path, chunks: Iterable[bytes]) -> None:
    """`write_bytes_atomic` for content produced piece by piece (never one string in memory)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file next to `path` for a writer that wants a file name (a Parquet writer):
    once the block ends it is fsynced and renamed over `path`, and the folder fsynced; on an
    error it is removed and `path` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:  # fsync needs no write access
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Readers never see half a file: temporary file, fsync, rename."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def write_all(fd: int, blob: bytes) -> None:
    """os.write until every byte is out; a write that makes no progress (full disk) raises."""
    view = memoryview(blob)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, "write made no progress")
        view = view[written:]


_LINE = json.JSONEncoder(ensure_ascii=False, default=str)  # as json.dumps(r, ...) per line


class JsonlAppender:
    """Appends one JSON object per line. A record is one write of the whole line, checked for
    length; if a write fails part-way, the partial line is cut off again (truncate), so every
    line on disk is a whole record or the torn tail of a killed process."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self._repair_torn_tail()

    def _repair_torn_tail(self) -> None:
        # A previous process killed mid-write may have left a line without its newline; end it
        # so the next record starts on a line of its own (the torn line is skipped on reading).
        size = os.fstat(self._fd).st_size
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    write_all(self._fd, b"\n")

    def append(self, record: dict[str, Any]) -> int:
        """Append one record; returns the byte offset its line starts at."""
        return self.append_many([record])[0]

    def append_many(self, records: list[dict[str, Any]]) -> list[int]:
        """Append records as whole lines in one write (what is already known goes out
        together: a chunk of cached responses, a chunk of scores); returns each line's byte
        offset. A failed write is cut back off, so no record is ever half on disk but the torn
        tail of a killed process."""
        lines = [(_LINE.encode(r) + "\n").encode("utf-8") for r in records]
        if not lines:
            return []
        with self._lock:
            start = os.fstat(self._fd).st_size
            try:
                write_all(self._fd, b"".join(lines))
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, start)  # whole or absent, never glued to the next
                raise
        offsets, at = [], start
        for line in lines:
            offsets.append(at)
            at += len(line)
        return offsets

    def sync(self) -> None:
        """fsync: called at stage boundaries (after generation, after scoring)."""
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


class RunLocked(RunError):
    """Another process is writing this run directory."""


class RunStore:
    """Writes one run directory, holding its lock until close()."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_run_dir(run_dir)
        self.responses = JsonlAppender(run_dir / RESPONSES)
        self.scores = JsonlAppender(run_dir / SCORES)
        self._judgements: JsonlAppender | None = None  # opened on first use: most runs have none

    @property
    def judgements(self) -> JsonlAppender:
        if self._judgements is None:
            self._judgements = JsonlAppender(self.run_dir / JUDGEMENTS)
        return self._judgements

    @property
    def manifest_path(self) -> Path:
        return self.run_dir / MANIFEST

    def read_manifest(self) -> RunManifest | None:
        return read_manifest(self.manifest_path) if self.manifest_path.is_file() else None

    def write_manifest(self, manifest: RunManifest) -> None:
        write_json_atomic(self.manifest_path, manifest.to_json())

    def write_examples(self, records: Iterable[dict[str, Any]]) -> None:
        # Written whole (atomically): the examples are known before any generation starts.
        # Streamed into the temporary file: a large golden set is never one string in memory.
        write_chunks_atomic(self.run_dir / EXAMPLES,
                            ((json.dumps(r, ensure_ascii=False, default=str) + "\n")
                             .encode("utf-8") for r in records))

    def response_records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.run_dir / RESPONSES)

    def score_records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.run_dir / SCORES)

    def judgement_records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.run_dir / JUDGEMENTS)

    def sync(self) -> None:
        self.responses.sync()
        self.scores.sync()
        if self._judgements is not None:
            self._judgements.sync()

    def close(self) -> None:
        self.responses.close()
        self.scores.close()
        if self._judgements is not None:
            self._judgements.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None


def lock_run_dir(run_dir: Path) -> int:
    """Take the run directory's lock (held until the fd is closed, or the process dies)."""
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            holder = f" (pid {int(os.pread(fd, 32, 0).decode().strip())})"
        os.close(fd)
        raise RunLocked(f"{run_dir} is being written by another harness run{holder}; wait for "
                        "it, or start a separate run with --new-run") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]


def new_run_dir(runs_root: Path) -> Path:
    """A fresh run directory, created atomically (two runs started in the same millisecond
    get two directories)."""
    runs_root.mkdir(parents=True, exist_ok=True)
    base = new_run_id()
    for n in range(1000):
        candidate = runs_root / (base if n == 0 else f"{base}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RunError(f"{runs_root}: could not create a new run directory")


@dataclass(frozen=True)
class Resumable:
    run_dir: Path | None  # the run to resume, or None
    not_resumed: str | None = None  # an unfinished run that was not resumed, and why


def find_resumable_run(suite_runs_dir: Path, input_identity: str,
                       input_parts: dict[str, str] | None = None) -> Resumable:
    """The newest run of this suite, if it did not finish and its inputs are unchanged."""
    if not suite_runs_dir.is_dir():
        return Resumable(None)
    for run_dir in sorted(suite_runs_dir.iterdir(), reverse=True):
        manifest_path = run_dir / MANIFEST
        if not manifest_path.is_file():
            continue
        try:
            manifest = read_manifest(manifest_path)
        except RunError:
            continue
        if manifest.status == "complete":
            return Resumable(None)
        if manifest.input_identity == input_identity:
            return Resumable(run_dir)
        changed = sorted(k for k, v in (input_parts or {}).items()
                         if manifest.input_parts.get(k) != v) or ["the run's inputs"]
        return Resumable(None, f"{run_dir.name} (unfinished) was not resumed: "
                               f"{', '.join(changed)} changed since")
    return Resumable(None)


@dataclass
class RunData:
    """A finished (or partial) run read back from disk: the input of reports and decisions.

    `tables` holds what decisions and reports use, compactly (harness/run_tables.py: numpy
    columns per arm and scorer, texts read back by offset), built in one streaming pass per
    file, so a run of any size is read in memory proportional to its examples, not its lines.
    `examples`, `responses` and `scores` are the whole files as DataFrames, read on first use
    (convenient for tests and notebooks; what the harness itself reads never needs them).
    """

    run_dir: Path
    manifest: RunManifest
    tables: RunTables
    torn_lines: dict[str, list[int]] = field(default_factory=dict)
    # judge, uid, arm, baseline, orders, outcome, consistent, error, calibration, human, ...
    judgements: pd.DataFrame = field(default_factory=lambda: _empty_judgements())

    @property
    def complete(self) -> bool:
        return self.manifest.status == "complete"

    @cached_property
    def _frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return _frames(self.run_dir)  # the three files read once, whichever is asked first

    @property
    def examples(self) -> pd.DataFrame:
        """uid, id, golden_set, tags, reference, prompt, metadata, gold_doc_ids"""
        return self._frames[0]

    @property
    def responses(self) -> pd.DataFrame:
        """arm, uid, example_id, golden_set, text, tokens, ..., contexts (last line wins)"""
        return self._frames[1]

    @property
    def scores(self) -> pd.DataFrame:
        """arm, uid, example_id, scorer, value, explanation, answer, error (last line wins)"""
        return self._frames[2]

    def score_matrix(self, scorer: str) -> pd.DataFrame:
        """example uid x arm table of one scorer's values (NaN where missing)."""
        subset = self.scores[self.scores["scorer"] == scorer]
        return subset.pivot_table(index="uid", columns="arm", values="value", aggfunc="first")


_EXAMPLE_COLUMNS = ["uid", "id", "golden_set", "tags", "reference", "prompt", "metadata",
                    "gold_doc_ids"]
_RESPONSE_COLUMNS = ["arm", "uid", "example_id", "golden_set", "text", "prompt_tokens",
                     "completion_tokens", "latency_s", "cached", "finish_reason", "error",
                     "model", "request_key", "contexts"]
_SCORE_COLUMNS = ["arm", "uid", "example_id", "golden_set", "scorer", "value", "explanation",
                  "answer", "score_key", "request_key", "error"]
_JUDGEMENT_COLUMNS = ["judge", "uid", "example_id", "golden_set", "arm", "baseline", "orders",
                      "outcome", "consistent", "error", "explanation", "calibration", "human",
                      "judgement_key"]


def _empty_judgements() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns=_JUDGEMENT_COLUMNS)


def _frames(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """examples, responses and scores of a run as whole DataFrames (last line wins)."""
    import pandas as pd

    example_rows = read_jsonl(run_dir / EXAMPLES)
    # Runs before (set, id) identity had no uid: derive it, as every id was then set-unique.
    set_of: dict[str, str] = {}
    for r in example_rows:
        r.setdefault("uid", example_uid(r.get("golden_set", ""), str(r.get("id"))))
        set_of.setdefault(str(r.get("id")), r.get("golden_set", ""))
    records = {}
    for name in (RESPONSES, SCORES):
        records[name] = read_jsonl(run_dir / name)
        for r in records[name]:
            if "uid" not in r:
                gs = r.get("golden_set") or set_of.get(str(r.get("example_id")), "")
                r["golden_set"] = gs
                r["uid"] = example_uid(gs, str(r.get("example_id")))
    examples = pd.DataFrame(example_rows, columns=_EXAMPLE_COLUMNS)
    responses = pd.DataFrame(records[RESPONSES], columns=_RESPONSE_COLUMNS)
    scores = pd.DataFrame(records[SCORES], columns=_SCORE_COLUMNS)
    # Keep the last record when a resumed run wrote one twice.
    responses = responses.drop_duplicates(["arm", "uid"], keep="last")
    scores = scores.drop_duplicates(["arm", "uid", "scorer"], keep="last")
    return examples, responses, scores


def load_run(run_dir: str | Path) -> RunData:
    import pandas as pd

    from harness.run_tables import read_tables

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run directory not found")
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise RunError(f"{run_dir}: not a run directory (no {MANIFEST})")
    manifest = read_manifest(manifest_path)
    if not (run_dir / EXAMPLES).is_file():
        raise RunError(f"{run_dir}: incomplete run: {EXAMPLES} is missing")
    torn: dict[str, list[int]] = {}
    tables = read_tables(run_dir, (EXAMPLES, RESPONSES, SCORES), torn)
    read = read_jsonl_checked(run_dir / JUDGEMENTS)
    if read.torn_offsets:
        torn[JUDGEMENTS] = read.torn_offsets
    judgements = pd.DataFrame(read.records, columns=_JUDGEMENT_COLUMNS)
    judgements = judgements.drop_duplicates(["judge", "uid", "arm", "baseline"], keep="last")
    torn = {name: torn[name] for name in (EXAMPLES, RESPONSES, SCORES, JUDGEMENTS)
            if name in torn}
    return RunData(run_dir, manifest, tables, torn, judgements)


class ResponseCache:
    """sqlite cache of responses, keyed by a hash of engine identity + request fingerprint.

    Shared by concurrent runs: WAL journal, and a busy timeout instead of "database is locked".
    Failed requests are never cached: the next run tries them again.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection per cache; engines may call back from worker threads.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=60.0)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA busy_timeout=60000")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL,"
            " created_at TEXT NOT NULL)"
        )

    @staticmethod
    def key(engine_identity: dict[str, Any], request: Request) -> str:
        return stable_hash({"engine": engine_identity, "request": request.fingerprint()})

    def get(self, key: str) -> Response | None:
        with self._lock:
            row = self._conn.execute("SELECT response FROM responses WHERE key = ?",
                                     (key,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        data["cached"] = True
        response = Response.from_dict(data)
        return None if response.failed else response

    def get_many(self, keys: list[str]) -> dict[str, Response]:
        """The cached, successful responses of `keys` (absent keys are left out), looked up
        GET_CHUNK keys per query instead of one query each."""
        found: dict[str, Response] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), GET_CHUNK):
            chunk = unique[start:start + GET_CHUNK]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT key, response FROM responses WHERE key IN ({marks})",
                    chunk).fetchall()
            for key, blob in rows:
                data = json.loads(blob)
                data["cached"] = True
                response = Response.from_dict(data)
                if not response.failed:
                    found[key] = response
        return found

    def put(self, key: str, response: Response) -> None:
        self.put_many([(key, response)])

    def put_many(self, items: list[tuple[str, Response]]) -> None:
        """Store many responses in one transaction (failed ones are skipped)."""
        rows = []
        stamp = now_iso()
        for key, response in items:
            if response.failed:
                continue
            data = response.as_dict()
            data["cached"] = False
            rows.append((key, json.dumps(data, ensure_ascii=False), stamp))
        if not rows:
            return
        with self._lock:
            if len(rows) == 1:
                self._conn.execute(
                    "INSERT OR REPLACE INTO responses (key, response, created_at) "
                    "VALUES (?, ?, ?)", rows[0])
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO responses (key, response, created_at) "
                    "VALUES (?, ?, ?)", rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()
