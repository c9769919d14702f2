"""Import what the end of `harness run` needs while the engine generates.

The end of a run (load the run, statistics, gates, the report, the forest plot) needs pandas,
numpy, matplotlib and jinja2, about 1 s of imports on 2 CPU cores. None of it is needed
before the first request, so `harness run` leaves it out of its start-up and has this module
import it on a background thread while the server generates (it waits on the network anyway),
so that the run's tail does not pay it either.

- `arm()`: `harness run` calls it after validating the suite. It starts a daemon thread that
  does nothing until an engine says it has requests in flight.
- `generating()`: an engine calls it once its first request is on the wire (the OpenAI-
  compatible and vLLM engines, and pools of them, do). Before that, nothing competes with the
  start-up for the CPU or the GIL.
  Engines that never call it (a cached run, the local engine) get no preloading: the end of
  the run imports what it needs itself, as it always did.
- `finish()`: `harness run` calls it before the end of the run: it waits for the imports in
  progress (so no module is ever imported by two threads at once from then on) or, when
  generation never started, stops the thread. `cancel()`, on an error or Ctrl-C, stops it
  without waiting.

Only imports and warm-ups without side effects on results run here: a module imported early
behaves exactly as one imported late.
"""

from __future__ import annotations

import contextlib
import importlib
import threading

# What the end of the run imports (harness/cli/finish.py and what it reaches); one that is not
# installed is skipped (its user imports it, or not, as before).
END_OF_RUN_MODULES = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "harness.store",
    "harness.run_tables",
    "harness.decision.evaluate",
    "harness.cli.finish",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "harness.report",
)
# The report's templates, compiled once (50 ms) and kept by jinja2's template cache.
TEMPLATES = ("report.md.j2", "ladder.md.j2", "comparison.md.j2")

_lock = threading.Lock()
_go = threading.Event()
_state: dict[str, object] = {"thread": None, "cancelled": False, "done": ()}


def arm() -> None:
    """Start the (idle) preloading thread, once per process."""
    with _lock:
        if _state["thread"] is not None:
            return
        thread = threading.Thread(target=_preload, name="harness-preload", daemon=True)
        _state["thread"] = thread
        thread.start()


def generating() -> None:
    """An engine has started sending requests: preloading may begin (cheap; call freely)."""
    if not _go.is_set():
        _go.set()


def started() -> bool:
    """Has an engine said it is generating (or has preloading been stopped)?"""
    return _go.is_set()


def cancel() -> None:
    """The run failed or was interrupted: stop after the module being imported, without
    waiting (the thread is a daemon; the process exits with the run's error)."""
    with _lock:
        _state["cancelled"] = True
    _go.set()


def finish() -> tuple[str, ...]:
    """Wait for the preloading in progress (or stop it if it never began); returns the modules
    it imported."""
    with _lock:
        thread = _state["thread"]
        if thread is None:
            return ()
        if not _go.is_set():
            _state["cancelled"] = True
            _go.set()
    assert isinstance(thread, threading.Thread)
    thread.join()
    done = _state["done"]
    assert isinstance(done, tuple)
    return done


def _preload() -> None:
    _go.wait()
    done: list[str] = []
    for name in END_OF_RUN_MODULES:
        if _state["cancelled"]:
            break
        try:
            importlib.import_module(name)
        except Exception:  # not installed, or broken: the end of the run says so, as before
            continue
        done.append(name)
    if not _state["cancelled"] and "harness.report" in done:
        with contextlib.suppress(Exception):  # a warm-up only: rendering compiles them anyway
            from harness.report.markdown import _ENV

            for template in TEMPLATES:
                _ENV.get_template(template)
    _state["done"] = tuple(done)
