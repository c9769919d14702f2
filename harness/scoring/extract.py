"""Getting the compared values out of texts: JSON in model output, and the `field` option.

Small models wrap JSON in prose or code fences, so "the first JSON object in the text" is
found by trying a decode at every '{' rather than by trusting the whole text to parse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from harness.errors import DataError
from harness.types import Example, Sample, Score

_DECODER = json.JSONDecoder()


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first `{...}` in `text` that decodes as a JSON object, or None."""
    start = text.find("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    return None


def as_text(value: Any) -> str:
    """A field value as the text scorers compare: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def field_text(text: str, field: str) -> str | None:
    """The value of top-level key `field` in the first JSON object of `text`, as text."""
    obj = first_json_object(text)
    if obj is None or field not in obj:
        return None
    return as_text(obj[field])


def reference_field(example: Example, field: str) -> str:
    value = field_text(example.reference, field)
    if value is None:
        # A golden set without the field is a data problem, not a bad output: say so loudly.
        raise DataError(
            f"example {example.id!r}{_where(example)}: reference is not JSON with field {field!r}"
        )
    return value


def _where(example: Example) -> str:
    return f" of golden set {example.golden_set!r}" if example.golden_set else ""


Compare = Callable[[str, str, Example], Score]  # (output text, reference text, example)


def on_field(compare: Compare, field: str | None, worst: float) -> Callable[[Sample], Score]:
    """A per-sample scorer comparing `field` of output and reference (whole texts if None).

    An output without the field scores `worst`; the extracted value becomes `Score.answer`.
    """
    if field is None:
        return lambda sample: compare(sample.output, sample.reference, sample.example)

    def score(sample: Sample) -> Score:
        example = sample.example
        reference = reference_field(example, field)
        got = field_text(sample.output, field)
        if got is None:
            return Score(worst, f"output is not JSON with field {field}")
        result = compare(got, reference, example)
        answer = result.answer if result.answer is not None else got
        return Score(result.value, result.explanation, answer)

    return score


def output_field(output: str, field: str | None, worst: float) -> tuple[str | None, Score | None]:
    """For scorers that read only the output: (text to check, None) or (None, failure score)."""
    if field is None:
        return output, None
    got = field_text(output, field)
    if got is None:
        return None, Score(worst, f"output is not JSON with field {field}")
    return got, None
