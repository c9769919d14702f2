"""Which pydantic model a field path points into: to list the fields allowed at a typo."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from harness.yamlio import LinePath


def model_at(root: type[BaseModel], loc: LinePath) -> type[BaseModel] | None:
    """The model reached by following `loc` from `root` (list indexes skipped); None if the path
    leaves the models (a dict, a scalar)."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if info is None:
            return None
        current = first_model(info.annotation)
        if current is None:
            return None
    return current


def first_model(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model in a type annotation (unwrapping Optional, lists, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = first_model(arg)
        if found is not None:
            return found
    return None
