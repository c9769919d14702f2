"""Scorers for structured output: json_valid and json_schema. Both read only the output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.scoring.extract import first_json_object
from harness.scoring.options import check_bool
from harness.scoring.registry import scorer
from harness.types import Sample, Score


def parse_output(output: str, extract: bool) -> tuple[Any, str]:
    """(value, "") when the output (or its first JSON object, if extract) parses, else
    (None, why not)."""
    if extract:
        value = first_json_object(output)
        return (value, "") if value is not None else (None, "no JSON object in the output")
    try:
        return json.loads(output), ""
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc}"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@scorer("json_valid", binary=True, needs=())
def json_valid(extract: bool = False) -> Any:
    """1 when the whole output parses as JSON (or, with extract=true, contains a JSON object)."""
    check_bool("extract", extract)

    def score(sample: Sample) -> Score:
        value, why = parse_output(sample.output, extract)
        if why:
            return Score(0.0, why)
        return Score(1.0, "", answer=_compact(value))

    return score


def _load_schema(schema: Any, schema_file: Any, base_dir: Path) -> dict[str, Any]:
    if (schema is None) == (schema_file is None):
        raise ValueError("give exactly one of the options 'schema' and 'schema_file'")
    if schema is not None:
        if not isinstance(schema, dict):
            raise ValueError(f"option 'schema' must be a mapping, got {type(schema).__name__}")
        return schema
    path = Path(str(schema_file)).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"json_schema: schema_file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"json_schema: schema_file {path} is not JSON: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"json_schema: schema_file {path} does not hold a JSON object")
    return loaded


@scorer("json_schema", binary=True, needs=())
def json_schema(
    schema: dict[str, Any] | None = None,
    schema_file: str | None = None,
    extract: bool = False,
    *,
    base_dir: Path,
) -> Any:
    """1 when the output parses and validates against the JSON Schema; else the first error."""
    check_bool("extract", extract)
    import jsonschema

    loaded = _load_schema(schema, schema_file, base_dir)
    validator_cls = jsonschema.validators.validator_for(loaded)
    try:
        validator_cls.check_schema(loaded)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"the JSON schema is invalid: {exc.message}") from exc
    validator = validator_cls(loaded)

    def score(sample: Sample) -> Score:
        value, why = parse_output(sample.output, extract)
        if why:
            return Score(0.0, why)
        # best_match picks the most relevant error, which is what a reader wants to see first.
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            return Score(0.0, f"at {error.json_path}: {error.message}", answer=_compact(value))
        return Score(1.0, "", answer=_compact(value))

    return score
