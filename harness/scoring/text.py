"""String-matching scorers: exact_match, normalized_exact_match, contains, regex, token_f1.

Normalisation follows the SQuAD evaluation script (lowercase, drop punctuation, drop the
articles a/an/the, collapse whitespace), widened to Unicode punctuation so curly quotes count.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import Any

from harness.errors import DataError
from harness.scoring.extract import on_field, output_field
from harness.scoring.options import check_bool, check_field, check_str
from harness.scoring.registry import scorer
from harness.types import Example, Sample, Score

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCT = frozenset(string.punctuation)


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


_DROP_ASCII_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: 'The  Cat's hat!' -> 'cats hat'."""
    text = text.lower()
    if text.isascii():  # the common case, at C speed: the same characters go
        text = text.translate(_DROP_ASCII_PUNCT)
    else:
        text = "".join(ch for ch in text if not _is_punct(ch))
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def _binary(hit: bool, miss_reason: str) -> Score:
    return Score(1.0 if hit else 0.0, "" if hit else miss_reason)


@scorer("exact_match", binary=True)
def exact_match(field: str | None = None, strip: bool = True) -> Any:
    """1 when output equals reference (surrounding whitespace ignored unless strip=false)."""
    check_field(field)
    check_bool("strip", strip)

    def compare(output: str, reference: str, example: Example) -> Score:
        if strip:
            output, reference = output.strip(), reference.strip()
        return _binary(output == reference, "differs from the reference")

    return on_field(compare, field, 0.0)


@scorer("normalized_exact_match", binary=True)
def normalized_exact_match(field: str | None = None) -> Any:
    """1 when output and reference are equal after SQuAD normalisation."""
    check_field(field)

    def compare(output: str, reference: str, example: Example) -> Score:
        got = normalize_answer(output)
        hit = got == normalize_answer(reference)
        return Score(1.0 if hit else 0.0, "" if hit else "differs after normalisation", got)

    return on_field(compare, field, 0.0)


def _contains_tokens(haystack: list[str], needle: list[str]) -> bool:
    # Whole-token containment, so "cat" is not found in "concatenate".
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


@scorer("contains", binary=True)
def contains(field: str | None = None, normalize: bool = False) -> Any:
    """1 when the reference appears in the output (as whole tokens when normalize=true)."""
    check_field(field)
    check_bool("normalize", normalize)

    def compare(output: str, reference: str, example: Example) -> Score:
        if normalize:
            hit = _contains_tokens(answer_tokens(output), answer_tokens(reference))
        else:
            hit = reference in output
        return _binary(hit, "reference not found in the output")

    return on_field(compare, field, 0.0)


@scorer("regex", binary=True, needs=())
def regex(
    pattern: str | None = None,
    field: str | None = None,
    ignore_case: bool = False,
    full_match: bool = False,
    metadata_key: str = "pattern",
) -> Any:
    """1 when `pattern` (or the example's metadata[metadata_key]) matches the output."""
    check_field(field)
    check_bool("ignore_case", ignore_case)
    check_bool("full_match", full_match)
    check_str("metadata_key", metadata_key)
    check_str("pattern", pattern, optional=True)
    flags = re.IGNORECASE if ignore_case else 0
    try:
        fixed = re.compile(pattern, flags) if pattern is not None else None
    except re.error as exc:
        raise ValueError(f"option 'pattern' is not a valid regular expression: {exc}") from exc

    def compiled(example: Example) -> re.Pattern[str]:
        if fixed is not None:
            return fixed
        source = example.metadata.get(metadata_key)
        if not isinstance(source, str) or not source:
            raise DataError(
                f"example {example.id!r}: scorer regex has no option 'pattern' and the example "
                f"has no metadata {metadata_key!r}"
            )
        try:
            return re.compile(source, flags)  # re caches compiled patterns itself
        except re.error as exc:
            raise DataError(
                f"example {example.id!r}: metadata {metadata_key!r} is not a valid regular "
                f"expression: {exc}"
            ) from exc

    def score(sample: Sample) -> Score:
        rx = compiled(sample.example)
        text, failed = output_field(sample.output, field, 0.0)
        if failed is not None:
            return failed
        match = rx.fullmatch(text) if full_match else rx.search(text)
        if match is None:
            return Score(0.0, f"no match for /{rx.pattern}/", answer=text if field else None)
        return Score(1.0, "", answer=match.group(0))

    return score


def token_f1_value(output: str, reference: str) -> tuple[float, float, float]:
    """(f1, precision, recall) over SQuAD-normalised tokens; two empty texts agree fully."""
    got, want = answer_tokens(output), answer_tokens(reference)
    if not got or not want:
        same = float(got == want)
        return same, same, same
    common = sum((Counter(got) & Counter(want)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall), precision, recall


@scorer("token_f1")
def token_f1(field: str | None = None) -> Any:
    """SQuAD token F1 between output and reference after normalisation."""
    check_field(field)

    def compare(output: str, reference: str, example: Example) -> Score:
        f1, precision, recall = token_f1_value(output, reference)
        return Score(f1, f"precision {precision:.2f}, recall {recall:.2f}")

    return on_field(compare, field, 0.0)
