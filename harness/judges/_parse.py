"""Reading a judge's answer: a score on a scale, or which of two answers won.

Judges, small ones above all, do not always answer in the format asked for, so each parser
tries, in order: a JSON object anywhere in the text (code fences and prose around it are fine;
a JSON cut off by max_tokens still gives its key), the MT-Bench `[[4]]` / `[[A]]` form, a
keyword ("Score: 4", "Rating = 4/5", "Winner: B", "**Verdict:** tie"), then a reply that is just
the verdict ("4", "4/5 because...", "B"). The first form found decides; nothing found, or a
score off the scale, is a JudgeParseError: an evaluator error for that example, never a zero.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_DECODER = json.JSONDecoder()
_NUM = r"[-+]?\d+(?:\.\d+)?"
_OUT_OF = rf"(?:\s*(?:/|out\s+of)\s*({_NUM}))?"
_SCORE_KEYS = ("score", "rating", "grade", "mark")
_WINNER_KEYS = ("winner", "preferred", "preference", "better", "best", "choice", "verdict",
                "answer", "result")
_REASON_KEYS = ("reason", "explanation", "rationale", "justification", "comment", "why")
_TIE_WORDS = {"tie", "c", "draw", "equal", "both", "neither", "none", "same", "even"}
_PREFIXES = ("answer", "assistant", "response", "output", "option")

_BRACKET_SCORE = re.compile(rf"\[\[\s*({_NUM}){_OUT_OF}\s*\]\]")
_KEYWORD_SCORE = re.compile(
    rf"(?i:\b(?:score|rating|grade)\b)[\"'*_\s]*(?:[:=]|(?i:\bis\b|\bof\b))?[\"'*_\s]*"
    rf"({_NUM}){_OUT_OF}")
_LEADING_SCORE = re.compile(rf"^[\s*#>\"'(\[_]*({_NUM}){_OUT_OF}(?=$|[\s.,;:)\]!*_-])")
_SIDE = r"(A|B|(?i:tie|draw|equal|neither|both))"
_BRACKET_SIDE = re.compile(r"\[\[\s*(A|B|C|(?i:tie))\s*\]\]")
_KEYWORD_SIDE = re.compile(
    r"(?i:\b(?:winner|verdict|choice|preferred(?:\s+answer)?|preference|better\s+answer|"
    r"best\s+answer|final\s+answer|answer)\b)[\"'*_\s]*(?:[:=]|(?i:\bis\b))[\"'*_\s]*"
    rf"(?:(?i:answer|assistant|response|option)\s+)?{_SIDE}\b")
_PHRASE_SIDE = re.compile(
    r"\b(?i:answer|assistant|response|option)\s+(A|B)\s+(?i:is\s+(?:the\s+)?(?:better|"
    r"preferred|more\s+\w+|superior|stronger)|wins)\b")
_PARTIAL_REASON = re.compile(
    r'"(?i:reason|explanation|rationale|justification|comment)"\s*:\s*"((?:[^"\\]|\\.)*)')
_TIE_PHRASE = re.compile(r"(?i)\b(?:it'?s|is)\s+a\s+(tie|draw)\b|\b(?:both|the\s+two)\s+"
                         r"(?:answers\s+)?are\s+(equal)(?:ly\s+good)?\b")


class JudgeParseError(ValueError):
    """The judge's answer holds no verdict this parser can read."""


@dataclass(frozen=True)
class ParsedScore:
    value: float
    reason: str


@dataclass(frozen=True)
class ParsedPreference:
    winner: str  # "A" (the answer shown first), "B" (shown second) or "tie"
    reason: str


def clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_objects(text: str) -> list[dict]:
    """Every top-level `{...}` of `text` that decodes as a JSON object, in order."""
    found, start = [], text.find("{")
    while start != -1:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        start = text.find("{", end)
    return found


def _get(obj: dict, keys: tuple[str, ...]) -> object:
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return None


def _reason_from(obj: dict | None, text: str, span: tuple[int, int] | None) -> str:
    if obj is not None:
        reason = _get(obj, _REASON_KEYS)
        if reason is not None:
            return clip(str(reason))
    partial = _PARTIAL_REASON.search(text)  # a JSON cut off by max_tokens
    if partial:
        return clip(partial.group(1))
    if span is not None:  # the judge's own words around the verdict
        rest = f"{text[: span[0]].strip()} {text[span[1]:].strip()}"
        return clip(rest.strip(" \t\r\n.:;,-*_)]"))
    return ""


# ---- scores ------------------------------------------------------------------------------------


def parse_score(text: str, low: float, high: float) -> ParsedScore:
    """The judge's score on the scale low..high, with its reason."""
    if not text or not text.strip():
        raise JudgeParseError("the judge's answer is empty")
    value, denominator, reason = _find_score(text)
    if denominator is not None and denominator != high:
        raise JudgeParseError(f"the judge scored {value:g}/{denominator:g}, not on the "
                              f"{low:g}..{high:g} scale: {clip(text)!r}")
    if not low <= value <= high:
        raise JudgeParseError(f"the judge's score {value:g} is outside the scale "
                              f"{low:g}..{high:g}: {clip(text)!r}")
    return ParsedScore(value, reason)


def _find_score(text: str) -> tuple[float, float | None, str]:
    for obj in json_objects(text):
        raw = _get(obj, _SCORE_KEYS)
        if raw is None or isinstance(raw, bool):
            continue
        if isinstance(raw, int | float):
            return float(raw), None, _reason_from(obj, text, None)
        match = re.fullmatch(rf"\s*({_NUM}){_OUT_OF}\s*", str(raw))
        if match:
            return (float(match.group(1)), _float(match.group(2)),
                    _reason_from(obj, text, None))
    for pattern in (_BRACKET_SCORE, _KEYWORD_SCORE, _LEADING_SCORE):
        match = pattern.search(text)
        if match:
            return (float(match.group(1)), _float(match.group(2)),
                    _reason_from(None, text, match.span()))
    raise JudgeParseError(f"no score in the judge's answer: {clip(text)!r}")


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)


# ---- preferences -------------------------------------------------------------------------------


def side(value: object) -> str | None:
    """'A', 'B' or 'tie' for the ways judges write them ("Answer A", "b", "[[C]]", "equal")."""
    if not isinstance(value, str):
        return None
    word = value.strip().strip("*_\"'.:()[] ").lower()
    for prefix in _PREFIXES:
        if word.startswith(prefix + " "):
            word = word[len(prefix) + 1:].strip()
    if word in ("a", "1", "first"):
        return "A"
    if word in ("b", "2", "second"):
        return "B"
    return "tie" if word in _TIE_WORDS else None


def parse_preference(text: str) -> ParsedPreference:
    """Which answer the judge preferred: "A" (shown first), "B" (shown second) or "tie"."""
    if not text or not text.strip():
        raise JudgeParseError("the judge's answer is empty")
    for obj in json_objects(text):
        winner = side(_get(obj, _WINNER_KEYS))
        if winner is not None:
            return ParsedPreference(winner, _reason_from(obj, text, None))
    for pattern in (_BRACKET_SIDE, _KEYWORD_SIDE, _PHRASE_SIDE, _TIE_PHRASE):
        match = pattern.search(text)
        if match:
            winner = side(next(g for g in match.groups() if g is not None))
            if winner is not None:
                return ParsedPreference(winner, _reason_from(None, text, match.span()))
    first_line = next((line for line in text.strip().splitlines() if line.strip()), "")
    winner = side(first_line)
    if winner is not None:
        return ParsedPreference(winner, clip(text.strip()[len(first_line):]))
    raise JudgeParseError(f"no verdict (A, B or tie) in the judge's answer: {clip(text)!r}")


def strip_echo(answer: str, prompt: str, min_chars: int = 16) -> str:
    """The judge's answer without the lines it copied from its prompt: a small model that
    repeats the format line ({"winner": "A" or "B" ...}) must not be read as choosing "A"."""
    seen = {" ".join(line.split()) for line in prompt.splitlines()}
    kept = [line for line in answer.splitlines()
            if len(line.strip()) < min_chars or " ".join(line.split()) not in seen]
    return "\n".join(kept)
