"""Checks for scorer option values. They raise ValueError, which build_scorer reports as a
ConfigError naming the scorer, so a typo in a suite fails before any generation starts."""

from __future__ import annotations

from typing import Any


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"option {name!r} must be true or false, got {value!r}")
    return value


def check_str(name: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"option {name!r} must be a non-empty string, got {value!r}")
    return value


def check_field(value: Any) -> str | None:
    """The `field` option every text scorer takes: None, or the JSON key to compare."""
    return check_str("field", value, optional=True)


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"option {name!r} must be a positive integer, got {value!r}")
    return value
