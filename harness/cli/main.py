"""The `harness` command: a click group; each subcommand lives in its own module."""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import os
import sys
import threading

# A command's start-up allocates objects that live as long as it does (modules, the suite's
# pydantic schemas: ~47,000 tracked before a run's first request) and little garbage; with the
# default young-generation threshold (700 allocations) the collector ran 113 young and 10
# middle collections over them, about 20 ms of that start-up (medians of 20 alternated runs).
# Collecting young objects every 10,000 allocations instead: at most that many wait for it.
gc.set_threshold(10_000, 10, 10)

import click  # noqa: E402 - after the collector is tuned: importing it allocates too

# torch's OpenMP threads busy-wait for each other by default; on a machine shared with other
# jobs that makes generation ~10x slower (measured on 2 cores). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Each module defines its click commands and a `register(group)` function that adds them.
COMMAND_MODULES = [
    "harness.cli.run",
    "harness.cli.suite",
    "harness.cli.index",
    "harness.cli.models",
    "harness.cli.report",
    "harness.cli.compare",
    "harness.cli.train",
    "harness.cli.adapters",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="harness")
def cli(debug: bool) -> None:
    """Evaluate whether a fine-tune is worth shipping: prompt vs RAG vs tuned, with evidence."""


for module_name in COMMAND_MODULES:
    importlib.import_module(module_name).register(cli)


def main() -> None:
    try:
        cli()
    except SystemExit as exc:
        exit_without_teardown(exc.code)


def exit_without_teardown(code: object) -> None:
    """Exit as `sys.exit(code)` would, minus tearing the interpreter down.

    Python's own exit frees every module and object one by one: after a run has imported
    pandas, matplotlib and pyarrow, that takes 0.25-0.35 s (measured on 2 CPU cores), after
    everything was written. What an exit must do is done here, in the same order: wait for
    the other (non-daemon) threads, run the atexit handlers (servers stopped, logs flushed),
    flush stdout and stderr; then the process ends. Only the command line does this; code
    calling `cli` itself (tests, notebooks) gets Python's normal exit.
    """
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    # What Python's exit calls first: it wakes idle thread-pool workers (their exit hooks) and
    # joins every non-daemon thread, including ones started while it waits.
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a broken pipe
            stream.flush()
    os._exit(status & 0xFF)  # what the OS keeps of sys.exit's status, too


if __name__ == "__main__":
    main()
