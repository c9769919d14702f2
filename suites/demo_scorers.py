"""A custom scorer of the demo suite, found as `demo_scorers.py:numbers_f1` (relative to the
suite file): do the figures in the answer match the figures in the reference answer?

In transit support a fare, a time or a deadline stated wrongly is the costly mistake, and word
overlap (token_f1) barely notices it: "2.40 credits" and "3.40 credits" share every word but
one. This scorer compares the *sets of numbers* of the two answers: F1 of precision (the answer's
numbers that are in the reference: a made-up figure costs) and recall (the reference's numbers
the answer gives). Both without numbers: 1. Numbers are read as written, so "1.10" and "1.1" are
the same figure, "06:30" is one figure, and "20,000" is twenty thousand.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from harness.scoring import scorer
from harness.scoring.extract import field_text, reference_field
from harness.types import Sample, Score

_NUMBER = re.compile(r"\d{1,2}:\d{2}|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def figures(text: str) -> set[str]:
    """The numbers of a text, normalised ("1.10" -> "1.1", "20,000" -> "20000")."""
    found = set()
    for raw in _NUMBER.findall(text):
        if ":" in raw:  # a time of day
            hours, minutes = raw.split(":")
            found.add(f"{int(hours)}:{minutes}")
            continue
        try:
            value = Decimal(raw.replace(",", ""))
        except InvalidOperation:
            continue
        found.add(format(value.normalize(), "f"))
    return found


@scorer("numbers_f1", description="F1 of the figures in the answer against those of the "
        "reference answer.")
def numbers_f1(field: str | None = "answer"):
    """`field`: compare this key of the JSON answers (the demo's "answer"); None: whole texts."""

    def score(sample: Sample) -> Score:
        if field is None:
            got, want = sample.output, sample.reference
        else:
            want = reference_field(sample.example, field)
            got = field_text(sample.output, field)
            if got is None:
                return Score(0.0, f"output is not JSON with field {field}")
        mine, theirs = figures(got), figures(want)
        if not mine and not theirs:
            return Score(1.0, "no figures in either")
        right = len(mine & theirs)
        if not right:
            return Score(0.0, f"figures {sorted(mine)} vs reference {sorted(theirs)}",
                         ", ".join(sorted(mine)))
        precision, recall = right / len(mine), right / len(theirs)
        value = 2 * precision * recall / (precision + recall)
        return Score(value, f"{right} of {len(theirs)} reference figures, {len(mine) - right} "
                     "not in the reference", ", ".join(sorted(mine)))

    return score
