"""Where harness keeps what it makes once per machine: converted models, file hashes, logs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The harness cache root: $HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/harness, else
    ~/.cache/harness."""
    explicit = os.environ.get("HARNESS_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "harness"
