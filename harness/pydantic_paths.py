"""pydantic validation errors as one line: file:line: field.path: problem (did-you-mean).

Locations are walked together with the data the user wrote, so the tags pydantic inserts for
tagged unions (`("arms", 1, "tuned", "prompt")`) are dropped exactly where they were inserted
and nowhere else: a tuned arm's `prompt` field is never mistaken for the `prompt` kind.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from harness.yamlio import LinePath, format_loc, line_of

UnknownKind = Callable[[str, Any], str]  # (what, kind written) -> message


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model a type annotation can hold (through Optional, lists, dicts, unions,
    Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        for model in models_in(arg):
            if model not in found:
                found.append(model)
    return found


def _kind_default(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("kind")
    if field is None:
        return None
    if field.default is not None and field.default is not PydanticUndefined:
        return field.default
    args = typing.get_args(field.annotation)
    return args[0] if len(args) == 1 else None


def _shape(annotation: Any) -> tuple[str, Any]:
    """('model', M) | ('union', members) | ('list', item) | ('dict', value) | ('other', None)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset):
        return "list", args[0] if args else Any
    if origin is dict:
        return "dict", args[1] if len(args) == 2 else Any
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return _shape(members[0])
        return "union", members
    return "other", None


def _member(members: list[Any], tag: Any) -> Any:
    """The union member a location tag names: a `kind` value, or a type name ('str')."""
    for member in members:
        shape, model = _shape(member)
        if shape == "model" and tag in (_kind_default(model), model.__name__):
            return member
        if getattr(member, "__name__", None) == tag or str(member) == tag:
            return member
    return None


def user_location(root: type[BaseModel], loc: tuple[Any, ...]
                  ) -> tuple[LinePath, type[BaseModel] | None]:
    """The location as written in the file (union tags removed), and the model whose field the
    last part names (for did-you-mean hints)."""
    annotation: Any = root
    out: list[Any] = []
    owner: type[BaseModel] | None = None
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        i += 1
        shape, arg = _shape(annotation)
        if shape == "union":
            annotation = _member(arg, part)  # pydantic put the member's tag here: skip it
            continue
        out.append(part)
        if shape == "model":
            owner = arg
            info = arg.model_fields.get(part) if isinstance(part, str) else None
            annotation = info.annotation if info is not None else None
        elif shape in ("list", "dict"):
            annotation = arg
        else:
            annotation = None
    return tuple(out), owner


def describe_validation_error(path: Path, exc: ValidationError, lines: dict[LinePath, int],
                              model: type[BaseModel], prefix: LinePath = (), *,
                              unknown_kind: UnknownKind | None = None) -> str:
    """One line: file:line: field.path: problem (with a did-you-mean for unknown fields)."""
    errors = exc.errors()
    first = errors[0]
    own, owner = user_location(model, tuple(first["loc"]))
    loc = prefix + own
    if first["type"] == "extra_forbidden":
        allowed = sorted(owner.model_fields) if owner is not None else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        message = f"unknown field '{loc[-1]}'"
        if hint:
            message += f" (did you mean '{hint[0]}'?)"
        elif allowed:
            message += f"; expected one of: {', '.join(allowed)}"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] == "unknown_kind":
        got = first.get("input")
        kind = got.get("kind") if isinstance(got, dict) else got
        what = (first.get("ctx") or {}).get("what", "")
        message = unknown_kind(what, kind) if unknown_kind else f"unknown {what} kind {kind!r}"
        if isinstance(got, dict) and "kind" in got:
            loc = (*loc, "kind")
    else:
        got = first.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        text = first["msg"].removeprefix("Value error, ")
        message = text if first["type"] == "value_error" else f"{text} (got {shown})"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    line = line_of(lines, loc)
    where = f"{path}:{line}: " if line else f"{path}: "
    return f"{where}{format_loc(loc)}: {message}{more}"
