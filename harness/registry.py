"""One registry per kind of extension (engines, arms, retrievers, judges): kind -> config model.

A kind is one module: its pydantic config model, decorated with `@REGISTRY.register("name")`,
and the class it builds (imported lazily by the config's `build`, so that reading a suite never
imports torch). The registry finds its kinds by itself, so nothing keeps a list of them:
- every module of its package whose name does not start with "_" (they import only the
  standard library and pydantic at top level); a suite's start-up imports only the modules
  named after the kinds it uses (`Registry.find`), and discovers the rest only for a kind that
  is not one of them;
- modules of installed packages named by the entry-point group (`harness.engines`, ...);
- anything registered at run time (a test, a notebook), which bumps `version` so the suite
  model built from the registries is rebuilt.

The suite schema, `harness schema`, error messages and factories are all built from here.
The registries themselves are at the bottom of this module; each package re-exports its own.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import threading
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar, Union

from pydantic import BaseModel, Discriminator, Field, Tag

from harness.errors import ConfigError

M = TypeVar("M", bound=type[BaseModel])


class Registry(Generic[M]):
    def __init__(self, what: str, package: str, entry_point_group: str,
                 default_kind: str | None = None):
        self.what = what  # "engine", "arm", ...: used in messages
        self.package = package
        self.entry_point_group = entry_point_group
        self.default_kind = default_kind  # the kind of a mapping that names none
        self._kinds: dict[str, M] = {}
        self._lock = threading.RLock()
        self._discovered = False
        self._discovering = False
        self.version = 0
        self.broken: list[str] = []  # entry points that failed to load, with why

    # ---- registration ------------------------------------------------------------------------

    def register(self, kind: str) -> Callable[[M], M]:
        """Class decorator: register a config model (with a `kind: Literal[kind]` field)."""

        def decorate(config: M) -> M:
            field = config.model_fields.get("kind")
            if field is None:
                raise TypeError(f"{config.__name__} needs a `kind: Literal[{kind!r}]` field")
            with self._lock:
                existing = self._kinds.get(kind)
                if existing is not None and _origin(existing) != _origin(config):
                    raise ConfigError(f"{self.what} kind {kind!r} is already registered by "
                                      f"{_origin(existing)}; cannot register {_origin(config)}")
                self._kinds[kind] = config
                self.version += 1
            return config

        return decorate

    def unregister(self, kind: str) -> None:
        with self._lock:
            if self._kinds.pop(kind, None) is not None:
                self.version += 1

    # ---- lookup ------------------------------------------------------------------------------

    def kinds(self) -> dict[str, M]:
        self._discover()
        with self._lock:
            return dict(sorted(self._kinds.items()))

    def get(self, kind: str) -> M:
        config = self.find(kind)
        if config is None:
            raise ConfigError(self.unknown_message(kind))
        return config

    def find(self, kind: Any) -> M | None:
        """The config model of `kind`, or None. A built-in kind lives in the module of its
        package named after it (`harness/engines/vllm.py` is `vllm`): that module alone is
        imported, so a suite's start-up does not pay for the kinds it does not use. Any other
        kind (a plugin, a module of another name) is found by discovering them all."""
        if not isinstance(kind, str):
            return None
        with self._lock:
            config = self._kinds.get(kind)
            discovered = self._discovered
        if config is not None or discovered:
            return config
        if kind.isidentifier() and not kind.startswith("_"):
            module = f"{self.package}.{kind}"
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)
                with self._lock:
                    config = self._kinds.get(kind)
                if config is not None:
                    return config
        return self.kinds().get(kind)

    def unknown_message(self, kind: Any) -> str:
        known = list(self.kinds())
        message = f"unknown {self.what} kind {kind!r}; known: {', '.join(known)}"
        close = difflib.get_close_matches(str(kind), known, n=1)
        return message + (f" (did you mean {close[0]!r}?)" if close else "")

    def kind_of(self, value: Any) -> str | None:
        """The kind a raw mapping (or a built config) asks for: what the union dispatches on."""
        if isinstance(value, dict):
            kind = value.get("kind", self.default_kind)
        else:
            kind = getattr(value, "kind", None)
        return kind if isinstance(kind, str) else None

    def union(self, only: frozenset[str] | None = None) -> Any:
        """The type of one config of this registry: a union tagged by `kind`, of every kind,
        or of the kinds `only` names when each of them is known (a suite's own kinds)."""
        if only is not None and not only:
            return Any  # nothing of this kind to validate (an empty `judges:`)
        found = {kind: self.find(kind) for kind in sorted(only)} if only is not None else {}
        kinds = self.kinds() if only is None or None in found.values() else found
        members = [Annotated[config, Tag(kind)] for kind, config in kinds.items()]
        if len(members) == 1:
            return next(iter(kinds.values()))
        return Annotated[Union[tuple(members)],  # noqa: UP007 - built at run time
                         Field(discriminator=Discriminator(
                             self.kind_of, custom_error_type="unknown_kind",
                             custom_error_message=f"unknown {self.what} kind",
                             custom_error_context={"what": self.what}))]

    # ---- discovery ---------------------------------------------------------------------------

    def _discover(self) -> None:
        with self._lock:
            if self._discovered or self._discovering:
                return
            self._discovering = True
        try:
            package = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(package.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{info.name}")
            for entry_point in installed_entry_points().select(group=self.entry_point_group):
                try:
                    entry_point.load()  # importing the module registers its kinds
                except Exception as exc:  # one broken plugin must not hide the others
                    self.broken.append(f"{self.entry_point_group} entry point "
                                       f"{entry_point.name!r} ({entry_point.value}) failed to "
                                       f"load: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._discovering = False
                self._discovered = True


@functools.cache
def installed_entry_points() -> importlib.metadata.EntryPoints:
    """Every installed entry point, read once for all the registries (each scan of the
    installed distributions takes about 5 ms)."""
    return importlib.metadata.entry_points()


def _origin(config: type) -> str:
    return f"{config.__module__}.{config.__qualname__}"


# The registries, one per kind. They live here (not in their packages) so that the suite model
# (harness/spec) can use them without importing any kind module: the kinds are imported by
# name when a registry is first asked (see Registry._discover).
ENGINES: Registry = Registry("engine", "harness.engines", "harness.engines", default_kind="local")
ARMS: Registry = Registry("arm", "harness.arms", "harness.arms")
RETRIEVERS: Registry = Registry("retriever", "harness.retrieval.backends", "harness.retrievers",
                                default_kind="qdrant_edge")
JUDGES: Registry = Registry("judge", "harness.judges", "harness.judges", default_kind="rubric")
