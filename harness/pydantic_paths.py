"""pydantic validation errors as one line: file:line: field.path: problem (did-you-mean)."""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.yamlio import LinePath, format_loc, line_of


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


def describe_validation_error(path: Path, exc: ValidationError, lines: dict[LinePath, int],
                              model: type[BaseModel], prefix: LinePath = (),
                              skip: frozenset[str] = frozenset()) -> str:
    """One line: file:line: field.path: problem (with a did-you-mean for unknown fields).

    `skip`: discriminated-union tags that pydantic puts in locations ("arms", 0, "prompt", "x")
    and that a user never sees in the file.
    """
    errors = exc.errors()
    first = errors[0]
    own = tuple(p for p in first["loc"] if not (isinstance(p, str) and p in skip))
    loc = prefix + own
    if first["type"] == "extra_forbidden":
        parent = model_at(model, own[:-1])
        allowed = sorted(parent.model_fields) if parent else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        message = f"unknown field '{loc[-1]}'"
        if hint:
            message += f" (did you mean '{hint[0]}'?)"
        elif allowed:
            message += f"; expected one of: {', '.join(allowed)}"
    elif first["type"] == "missing":
        message = "required field is missing"
    else:
        got = first.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        text = first["msg"].removeprefix("Value error, ")
        message = text if first["type"] == "value_error" else f"{text} (got {shown})"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    line = line_of(lines, loc)
    where = f"{path}:{line}: " if line else f"{path}: "
    return f"{where}{format_loc(loc)}: {message}{more}"
