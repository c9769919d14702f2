"""Where scorers come from besides the built-ins: `module:function`, `file.py:function`, plugins.

Each loader returns a `ScorerEntry`. A referenced object may be an @scorer factory (it carries
its info) or a plain `(example, output) -> Score | float | bool` function, wrapped here as a
factory without options and range (0, 1).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import re
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.errors import ConfigError
from harness.scoring.info import INFO_ATTR, ScorerEntry, ScorerInfo

ENTRY_POINT_GROUP = "harness.scorers"

_FILE_LOCK = threading.RLock()
_FILE_MODULES: dict[str, ModuleType] = {}


def looks_like_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def entry_from_object(obj: Any, where: str) -> ScorerEntry:
    """Turn a decorated factory or a plain scoring function into an entry."""
    info = getattr(obj, INFO_ATTR, None)
    if isinstance(info, ScorerInfo):
        return ScorerEntry(info, obj)
    if not callable(obj):
        raise ConfigError(f"{where} is a {type(obj).__name__}, not a function")
    try:
        signature = inspect.signature(obj)
    except ValueError:  # builtins without a signature: let the first call tell
        signature = None
    if signature is not None:
        fits = []
        for args in ((None,), (None, None)):
            try:
                signature.bind(*args)
                fits.append(len(args))
            except TypeError:
                pass
        if not fits:
            raise ConfigError(
                f"{where} must take (sample) or (example, output), or be decorated with "
                "@scorer"
            ) from None
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", getattr(obj, "__name__", "") or "custom").lstrip(".-")
    doc = (inspect.getdoc(obj) or "").strip().splitlines()
    info = ScorerInfo(
        name=name or "custom",
        description=doc[0] if doc else "",
        signature=inspect.Signature(),
    )
    return ScorerEntry(info, lambda: obj)


def _attribute(module: ModuleType, attr: str, ref: str) -> Any:
    try:
        return getattr(module, attr)
    except AttributeError:
        # A file scorer's module has an internal name: name the file the user wrote instead.
        where = getattr(module, "__file__", None) if module.__name__.startswith(
            "_harness_scorers_") else module.__name__
        raise ConfigError(f"scorer {ref!r}: {where} defines no {attr!r}") from None


def from_module(module_name: str, attr: str) -> ScorerEntry:
    ref = f"{module_name}:{attr}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"scorer {ref!r}: cannot import module {module_name!r} ({exc})") from exc
    except Exception as exc:  # the user's module failed while importing
        raise ConfigError(
            f"scorer {ref!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return entry_from_object(_attribute(module, attr, ref), f"scorer {ref!r}")


def from_file(file: str, attr: str, base_dir: str | Path | None) -> ScorerEntry:
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = Path(base_dir or Path.cwd()) / path
    ref = f"{file}:{attr}"
    if not path.is_file():
        raise ConfigError(f"scorer {ref!r}: file {path} does not exist")
    module = _load_file(path.resolve(), ref)
    return entry_from_object(_attribute(module, attr, ref), f"scorer {ref!r}")


def _load_file(path: Path, ref: str) -> ModuleType:
    key = str(path)
    with _FILE_LOCK:  # two threads must not execute the same file twice
        module = _FILE_MODULES.get(key)
        if module is not None:
            return module
        stem = re.sub(r"\W", "_", path.stem)
        name = f"_harness_scorers_{stem}_{hashlib.sha256(key.encode()).hexdigest()[:10]}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"scorer {ref!r}: {path} is not a loadable Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look the module up by name
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(
                f"scorer {ref!r}: running {path} failed: {type(exc).__name__}: {exc}"
            ) from exc
        _FILE_MODULES[key] = module
        return module


def entry_point_names() -> list[str]:
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})


def from_entry_point(name: str) -> ScorerEntry | None:
    """The plugin registered as `name` in the `harness.scorers` group, or None."""
    # Scanned afresh on each miss (not cached) so newly installed plugins are seen.
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name != name:
            continue
        where = f"scorer plugin {name!r} ({ep.value})"
        try:
            obj = ep.load()
        except Exception as exc:
            raise ConfigError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        entry = entry_from_object(obj, where)
        if entry.info.name != name:
            try:
                entry = ScorerEntry(replace(entry.info, name=name), entry.factory)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
        return entry
    return None
