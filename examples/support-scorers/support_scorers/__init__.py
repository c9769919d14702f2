"""Example harness scorers for support answers, found through the `harness.scorers` entry
points of this package's pyproject.toml."""

from __future__ import annotations

import re

from harness.scoring import scorer
from harness.scoring.extract import field_text
from harness.types import Sample, Score

# Template text a model copied instead of filling in.
_PLACEHOLDER = re.compile(r"<[a-z_ ]{2,30}>|\[insert[^\]]*\]|\{[a-z_]+\}|\bTODO\b|lorem ipsum",
                          re.IGNORECASE)


@scorer("within_words", binary=True, needs=(),
        description="The answer has at most max_words words.")
def within_words(max_words: int = 40, field: str | None = None):
    """Binary: 1 when the answer (or its JSON `field`) has at most `max_words` words."""
    if not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < 1:
        raise ValueError(f"option 'max_words' must be a whole number >= 1, got {max_words!r}")

    def score(sample: Sample) -> Score:
        text = sample.output if field is None else field_text(sample.output, field)
        if text is None:
            return Score(0.0, f"output is not JSON with field {field}")
        words = len(text.split())
        return Score(1.0 if words <= max_words else 0.0, f"{words} words (at most {max_words})")

    return score


def no_placeholder(sample: Sample) -> bool:
    """The answer holds no unfilled template text (a plain function: range 0..1, no options)."""
    return _PLACEHOLDER.search(sample.output) is None
