"""Errors the user can fix, each mapped to a documented exit code.

The CLI prints `error: <message>` on one line and exits with `exit_code`; `--debug` shows the
traceback. Anything not a HarnessError is a bug and exits with code 1 and a traceback hint.
"""

from __future__ import annotations


class HarnessError(Exception):
    exit_code = 2  # bad input in general

    def __init__(self, message: str):
        # One line, always: a newline inside a name the user wrote must not split the error.
        message = message.replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(message)
        self.message = message


class ConfigError(HarnessError):
    """A suite or training config is missing, malformed or invalid."""

    exit_code = 2


class DataError(HarnessError):
    """A golden set or training set is missing, empty or malformed."""

    exit_code = 3


class ModelError(HarnessError):
    """A model or adapter folder is missing or unusable."""

    exit_code = 4


class EngineError(HarnessError):
    """A generation backend failed (server never healthy, died mid-run, ...)."""

    exit_code = 5


class RunError(HarnessError):
    """A run directory is missing, incomplete or does not match what was asked."""

    exit_code = 6


class LeakageError(HarnessError):
    """Training data overlaps a golden set."""

    exit_code = 7


class BudgetExceeded(HarnessError):
    """Generation reached `--max-cost`; what was generated is kept."""

    exit_code = 8


# Verdict exit codes (harness run / harness compare) are documented with the gates.
EXIT_OK = 0
EXIT_BUG = 1
