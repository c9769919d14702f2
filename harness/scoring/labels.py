"""label_accuracy: did the model pick the right class?

The predicted label is the output itself when it is exactly a label (ignoring case, spacing and
surrounding punctuation), else the label mentioned earliest in the output (the longest one when
two start at the same place, so "very positive" beats "positive").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from harness.errors import DataError
from harness.scoring.extract import on_field
from harness.scoring.options import check_bool, check_field
from harness.scoring.registry import scorer
from harness.types import Example, Score

_EDGE_PUNCT = " \t\r\n.,;:!?\"'`*()[]{}<>"


def _key(text: str, case_sensitive: bool) -> str:
    text = " ".join(text.strip(_EDGE_PUNCT).split())
    return text if case_sensitive else text.casefold()


def _mention_pattern(label: str, case_sensitive: bool) -> re.Pattern[str]:
    # Whole words only ("cat" not inside "category"); any whitespace between a label's words.
    body = r"\s+".join(re.escape(word) for word in label.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", 0 if case_sensitive else re.IGNORECASE)


def _check_labels(labels: Any) -> list[str]:
    if isinstance(labels, str) or not isinstance(labels, Sequence) or not labels:
        raise ValueError(f"option 'labels' must be a non-empty list of strings, got {labels!r}")
    if not all(isinstance(label, str) and label.strip() for label in labels):
        raise ValueError(f"option 'labels' must hold non-empty strings, got {labels!r}")
    return list(labels)


class LabelExtractor:
    """Finds which of `labels` a free-text output names."""

    def __init__(self, labels: Sequence[str], case_sensitive: bool = False):
        self.labels = _check_labels(labels)
        self.case_sensitive = case_sensitive
        self._by_key = {_key(label, case_sensitive): label for label in self.labels}
        self._patterns = [(label, _mention_pattern(label, case_sensitive)) for label in self.labels]

    def canonical(self, text: str) -> str | None:
        """The label `text` is exactly (modulo case, spacing, edge punctuation), or None."""
        return self._by_key.get(_key(text, self.case_sensitive))

    def extract(self, text: str) -> str | None:
        exact = self.canonical(text)
        if exact is not None:
            return exact
        found = []
        for label, pattern in self._patterns:
            match = pattern.search(text)
            if match is not None:
                found.append((match.start(), -len(match.group(0)), label))
        return min(found)[2] if found else None


@scorer("label_accuracy", binary=True)
def label_accuracy(
    labels: list[str], field: str | None = None, case_sensitive: bool = False
) -> Any:
    """1 when the label extracted from the output is the reference label."""
    check_field(field)
    check_bool("case_sensitive", case_sensitive)
    extractor = LabelExtractor(labels, case_sensitive)

    def compare(output: str, reference: str, example: Example) -> Score:
        expected = extractor.canonical(reference)
        if expected is None:
            raise DataError(
                f"example {example.id!r}: reference label {reference!r} is not one of the "
                f"labels {extractor.labels}"
            )
        predicted = extractor.extract(output)
        if predicted is None:
            return Score(0.0, "no label found in the output")
        if predicted == expected:
            return Score(1.0, "", answer=predicted)
        return Score(0.0, f"predicted {predicted!r}, expected {expected!r}", answer=predicted)

    return on_field(compare, field, 0.0)
