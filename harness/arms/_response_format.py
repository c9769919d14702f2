"""Checking and loading a prompt arm's `response_format` (constrained decoding).

Kept out of the kind module (harness/arms/prompt.py) because it imports jsonschema. Each check
returns a one-line problem (or None), which the arm's `problems()` reports with its location.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

_UNKNOWN = object()


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a valid JSON Schema of its draft (`$schema`, default 2020-12)."""
    from jsonschema import Draft202012Validator, SchemaError, validators

    if not isinstance(schema, dict):
        return f"expected a JSON Schema object, got {type(schema).__name__}"
    validator = validators.validator_for(schema, default=_UNKNOWN)
    if validator is _UNKNOWN:
        if "$schema" in schema:
            return (f"unknown $schema {schema['$schema']!r}; expected a JSON Schema draft "
                    "(e.g. https://json-schema.org/draft/2020-12/schema)")
        validator = Draft202012Validator
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        draft = validator.__name__.removesuffix("Validator")
        return f"not a valid JSON Schema ({draft}) at {exc.json_path}: {exc.message}"
    return None


def regex_problem(regex: str) -> str | None:
    try:
        re.compile(regex)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    return None


def read_schema_file(path: Path) -> dict[str, Any]:
    """The JSON Schema in a JSON file; ConfigError naming the file when it is not one."""
    if not path.is_file():
        raise ConfigError(f"file not found: {path}")
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"{path}: expected a JSON Schema object, got "
                          f"{type(schema).__name__}")
    return schema
