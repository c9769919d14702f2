"""sha256 of large files, computed once per content: cached by (path, size, mtime_ns, inode).

Model identity hashes every weight file; a cached re-run must not re-read gigabytes, so the
hashes are kept in a small sqlite file in the harness cache folder. A file rewritten in place
changes its mtime (and usually its size), which misses the cache and re-hashes it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

_SHARED: FileHashCache | None = None
_SHARED_LOCK = threading.Lock()


class FileHashCache:
    def __init__(self, path: Path | None):
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, "
                                   "size INTEGER, mtime_ns INTEGER, inode INTEGER, sha256 TEXT)")
            except sqlite3.Error:
                self._conn = None  # a read-only cache folder: hash every time, still correct

    @classmethod
    def shared(cls) -> FileHashCache:
        global _SHARED
        with _SHARED_LOCK:
            if _SHARED is None:
                from harness.paths import cache_dir

                _SHARED = cls(cache_dir() / "file_hashes.sqlite")
            return _SHARED

    def sha256(self, path: Path) -> str:
        path = Path(path).resolve()
        st = os.stat(path)
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        if self._conn is not None:
            with self._lock:
                row = self._conn.execute(
                    "SELECT sha256 FROM hashes WHERE path = ? AND size = ? AND mtime_ns = ? "
                    "AND inode = ?", key).fetchone()
            if row:
                return row[0]
        digest = file_sha256(path)
        if self._conn is not None:
            with self._lock, self._conn:
                self._conn.execute("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)",
                                   (*key, digest))
        return digest


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks (model files are large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
