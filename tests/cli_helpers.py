"""Running the real CLI in-process, and what a one-line error must look like."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from harness.cli.main import cli


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def one_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in output, output
    return lines[0]


def session_processes(sid: int) -> list[int]:
    """Every live process of session `sid` (a process started with start_new_session);
    zombies are not running anything."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def run_python(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -c script args...` in a fresh interpreter at the repository root (what a test
    of imports or of the process's exit needs), its output captured as text."""
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent.parent,
                          timeout=timeout)

