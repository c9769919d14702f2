"""What every command shares: one-line errors with documented exit codes, --debug, the console."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from harness.errors import EXIT_BUG, HarnessError

console = Console(stderr=False)
err_console = Console(stderr=True)


def debug_enabled() -> bool:
    """--debug on the command line (or HARNESS_DEBUG=1 in the environment)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().params.get("debug"):
        return True
    return os.environ.get("HARNESS_DEBUG") == "1"


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn HarnessError into `error: ...` and its exit code; tracebacks only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HarnessError as exc:
            if debug_enabled():
                raise
            # Escaped: a message quoting `[a, b]` must not be read as rich markup.
            err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False,
                              soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: results so far are saved; "
                              "run the same command again to resume")
            sys.exit(130)
        except click.exceptions.ClickException:
            raise
        except Exception as exc:
            if debug_enabled():
                raise
            err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                              "(run with --debug for the traceback)", highlight=False,
                              soft_wrap=True)
            sys.exit(EXIT_BUG)

    return wrapper
