"""Generation backends, one module per kind, found by the registry (see harness/registry.py).

A kind module defines its config (a pydantic model registered with `@ENGINES.register(kind)`)
and the engine it builds; it imports only the standard library and pydantic at top level, so
reading a suite never imports torch or an HTTP client. Modules whose names start with "_" are
implementation helpers, imported only when an engine is built.
"""

from harness.registry import ENGINES

__all__ = ["ENGINES"]
