"""The scorer registry: register with @scorer, look up by name or reference, build with options.

A scorer is a factory: `@scorer("name", ...)` on `def factory(**options) -> callable`. A suite
names a scorer by `kind` (a registered name, a `harness.scorers` plugin, `package.module:func`
or `path/to/file.py:func`) and gives options; `build_scorer` checks the options against the
factory's signature and returns a `BoundScorer`.
"""

from __future__ import annotations

import difflib
import inspect
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, HarnessError
from harness.scoring import sources
from harness.scoring.bound import BoundScorer
from harness.scoring.info import BASE_DIR_PARAM, INFO_ATTR, Factory, ScorerEntry, ScorerInfo

_LOCK = threading.RLock()
_REGISTRY: dict[str, ScorerEntry] = {}


def scorer(
    name: str,
    *,
    range: tuple[float, float] = (0.0, 1.0),  # shadows the builtin: the documented name
    higher_is_better: bool = True,
    binary: bool = False,
    batch: bool = False,
    description: str = "",
    needs: tuple[str, ...] | frozenset[str] = ("reference",),
) -> Callable[[Factory], Factory]:
    """Register the decorated factory under `name`; the factory itself is returned unchanged.

    Non-batch factories return `(sample) -> Score`; batch ones return
    `(samples) -> list[Score]`. The factory's keyword parameters are its options. `needs`
    says what the scorer reads besides the output ("reference", "context", "engine").
    """
    value_range = range

    def decorate(factory: Factory) -> Factory:
        doc = (inspect.getdoc(factory) or "").strip().splitlines()
        info = ScorerInfo(
            name=name,
            range=value_range,
            higher_is_better=higher_is_better,
            binary=binary,
            batch=batch,
            description=description or (doc[0] if doc else ""),
            needs=frozenset(needs),
            signature=inspect.signature(factory),
        )
        setattr(factory, INFO_ATTR, info)
        register(ScorerEntry(info, factory))
        return factory

    return decorate


def _origin(factory: Factory) -> str:
    return f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', '?')}"


def register(entry: ScorerEntry) -> None:
    """Add an entry; re-registering the same function (a module reload) replaces it."""
    name = entry.info.name
    with _LOCK:
        existing = _REGISTRY.get(name)
        if existing is not None and _origin(existing.factory) != _origin(entry.factory):
            raise ConfigError(
                f"scorer {name!r} is already registered by {_origin(existing.factory)}; "
                f"cannot register {_origin(entry.factory)} under the same name"
            )
        _REGISTRY[name] = entry


def _ensure_builtins() -> None:
    # Imported lazily: builtins use @scorer from this module.
    import harness.scoring.builtins  # noqa: F401


def resolve_scorer(kind: str, base_dir: str | Path | None = None) -> ScorerEntry:
    """Find a scorer by registered name, plugin name, `module:function` or `file.py:function`.

    Relative file paths resolve against `base_dir` (the suite's folder), else the cwd.
    """
    if not isinstance(kind, str) or not kind.strip():
        raise ConfigError(f"scorer kind must be a non-empty string, got {kind!r}")
    kind = kind.strip()
    if ":" in kind:
        target, _, attr = kind.rpartition(":")
        if not target or not attr.isidentifier():
            raise ConfigError(
                f"scorer {kind!r}: expected a name, package.module:function "
                "or path/to/file.py:function"
            )
        if sources.looks_like_file(target):
            return sources.from_file(target, attr, base_dir)
        return sources.from_module(target, attr)
    _ensure_builtins()
    with _LOCK:
        entry = _REGISTRY.get(kind)
        if entry is None:
            entry = sources.from_entry_point(kind)
            if entry is not None:
                _REGISTRY.setdefault(kind, entry)
    if entry is None:
        raise ConfigError(_unknown_message(kind))
    return entry


def _unknown_message(kind: str) -> str:
    with _LOCK:
        known = sorted(set(_REGISTRY) | set(sources.entry_point_names()))
    message = f"unknown scorer {kind!r}; known: {', '.join(known)}"
    close = difflib.get_close_matches(kind, known, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return message


def list_scorers() -> list[ScorerInfo]:
    """Every registered scorer plus installed plugins, sorted by name."""
    _ensure_builtins()
    for name in sources.entry_point_names():
        with _LOCK:
            if name in _REGISTRY:
                continue
        try:
            resolve_scorer(name)
        except ConfigError as exc:  # one broken plugin must not hide the others
            warnings.warn(exc.message, stacklevel=2)
    with _LOCK:
        return [_REGISTRY[name].info for name in sorted(_REGISTRY)]


def build_scorer(
    kind: str, options: Mapping[str, Any] | None = None, *, base_dir: str | Path | None = None
) -> BoundScorer:
    """Resolve `kind` and call its factory with `options`, turning option mistakes into
    ConfigErrors that name the option and list the accepted ones."""
    entry = resolve_scorer(kind, base_dir)
    info = entry.info
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"scorer {kind!r}: options must be a mapping, got {options!r}")
    accepted = list(info.options)
    for option in options:
        if option not in accepted and (option == BASE_DIR_PARAM or not info.accepts_any_option):
            listed = ", ".join(accepted) if accepted else "none"
            message = f"scorer {kind!r} has no option {option!r}; accepted: {listed}"
            close = difflib.get_close_matches(str(option), accepted, n=1)
            raise ConfigError(message + (f" (did you mean {close[0]!r}?)" if close else ""))
    for option in info.required_options:
        if option not in options:
            raise ConfigError(f"scorer {kind!r} needs option {option!r}")
    kwargs = dict(options)
    if info.wants_base_dir:
        kwargs[BASE_DIR_PARAM] = Path(base_dir) if base_dir is not None else Path.cwd()
    try:
        fn = entry.factory(**kwargs)
    except HarnessError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scorer {kind!r}: {exc}") from exc
    if not callable(fn):
        raise ConfigError(
            f"scorer {kind!r}: its factory returned a {type(fn).__name__}, not a function"
        )
    _check_call_signature(kind, fn, info.batch)
    return BoundScorer(info=info, fn=fn, options=dict(options), kind=kind)


def _check_call_signature(kind: str, fn: Callable[..., Any], batch: bool) -> None:
    """A callable that cannot take (sample) or (example, output) would fail on every sample:
    refuse it when the suite loads, not as one evaluator error per example."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: let the first call tell
        return
    for args in ((None,), (None, None)):
        try:
            signature.bind(*args)
            return
        except TypeError:
            continue
    shape = "(samples) or (examples, outputs)" if batch else "(sample) or (example, output)"
    raise ConfigError(f"scorer {kind!r}: its factory returned a function taking "
                      f"{signature}; expected {shape}")
