"""The run directory and the response cache: everything a run produces, written as produced.

A run directory holds a manifest and three JSONL files (examples, responses, scores). Each line
is appended with a single write on a file opened in append mode, so a killed process leaves at
most one torn last line, which readers skip. The response cache is one sqlite file shared by the
runs of a project, keyed by everything that can change an output.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import RunError
from harness.types import Request, Response, stable_hash

MANIFEST = "manifest.json"
EXAMPLES = "examples.jsonl"
RESPONSES = "responses.jsonl"
SCORES = "scores.jsonl"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JsonlAppender:
    """Appends one JSON object per line; one os.write per line keeps lines whole."""

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
                    os.write(self._fd, b"\n")

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            os.write(self._fd, line.encode("utf-8"))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All whole records of a JSONL file; torn lines (from a killed writer) are skipped."""
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


class RunStore:
    """Writes one run directory."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.responses = JsonlAppender(run_dir / RESPONSES)
        self.scores = JsonlAppender(run_dir / SCORES)

    @property
    def manifest_path(self) -> Path:
        return self.run_dir / MANIFEST

    def read_manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_path.read_text()) if self.manifest_path.is_file() else {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def write_examples(self, records: list[dict[str, Any]]) -> None:
        # Written whole (atomically): the examples are known before any generation starts.
        tmp = self.run_dir / f".{EXAMPLES}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
        os.replace(tmp, self.run_dir / EXAMPLES)

    def done_responses(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["arm"], r["example_id"]): r for r in read_jsonl(self.run_dir / RESPONSES)}

    def done_scores(self) -> set[tuple[str, str, str]]:
        return {(r["arm"], r["example_id"], r["scorer"]) for r in read_jsonl(self.run_dir / SCORES)}

    def close(self) -> None:
        self.responses.close()
        self.scores.close()


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]


def find_resumable_run(suite_runs_dir: Path, suite_hash: str) -> Path | None:
    """The newest run of this exact suite that did not finish, if any."""
    if not suite_runs_dir.is_dir():
        return None
    for run_dir in sorted(suite_runs_dir.iterdir(), reverse=True):
        manifest_path = run_dir / MANIFEST
        if not manifest_path.is_file():
            continue
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            continue
        if manifest.get("status") != "complete" and manifest.get("suite_hash") == suite_hash:
            return run_dir
        return None  # only the newest run is a candidate: never resume an old abandoned one
    return None


@dataclass
class RunData:
    """A finished (or partial) run read back from disk: the input of reports and decisions."""

    run_dir: Path
    manifest: dict[str, Any]
    examples: pd.DataFrame  # id, golden_set, tags, reference, prompt, metadata
    responses: pd.DataFrame  # arm, example_id, text, tokens, latency_s, cached, ...
    scores: pd.DataFrame  # arm, example_id, scorer, value, explanation

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == "complete"

    def score_matrix(self, scorer: str) -> pd.DataFrame:
        """example_id x arm table of one scorer's values (NaN where missing)."""
        subset = self.scores[self.scores["scorer"] == scorer]
        return subset.pivot_table(index="example_id", columns="arm", values="value",
                                  aggfunc="first")


def load_run(run_dir: str | Path) -> RunData:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run directory not found")
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise RunError(f"{run_dir}: not a run directory (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise RunError(f"{manifest_path}: unreadable manifest ({exc.msg})") from exc
    if not (run_dir / EXAMPLES).is_file():
        raise RunError(f"{run_dir}: incomplete run: {EXAMPLES} is missing")
    examples = pd.DataFrame(read_jsonl(run_dir / EXAMPLES),
                            columns=["id", "golden_set", "tags", "reference", "prompt",
                                     "metadata"])
    responses = pd.DataFrame(read_jsonl(run_dir / RESPONSES),
                             columns=["arm", "example_id", "text", "prompt_tokens",
                                      "completion_tokens", "latency_s", "cached",
                                      "finish_reason", "request_key"])
    scores = pd.DataFrame(read_jsonl(run_dir / SCORES),
                          columns=["arm", "example_id", "scorer", "value", "explanation"])
    # Keep the last record when a resumed run wrote one twice.
    responses = responses.drop_duplicates(["arm", "example_id"], keep="last")
    scores = scores.drop_duplicates(["arm", "example_id", "scorer"], keep="last")
    return RunData(run_dir, manifest, examples, responses, scores)


class ResponseCache:
    """sqlite cache of responses, keyed by a hash of engine identity + request fingerprint."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection per cache; engines may call back from worker threads.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
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
        return Response(**data)

    def put(self, key: str, response: Response) -> None:
        data = response.as_dict()
        data["cached"] = False
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, response, created_at) VALUES (?, ?, ?)",
                (key, json.dumps(data, ensure_ascii=False), now_iso()),
            )

    def close(self) -> None:
        self._conn.close()
