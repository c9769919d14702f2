"""Scorers: turn a Sample (example, request as sent, response, retrieved context) into a Score.

Public API: `scorer` (decorator), `build_scorer`, `resolve_scorer`, `list_scorers`,
`ScorerInfo`, `BoundScorer`. Built-ins register on import; see docs/scorers.md.
"""

from harness.scoring import builtins as _builtins  # noqa: F401  (registers the built-ins)
from harness.scoring.bound import BoundScorer
from harness.scoring.extract import first_json_object
from harness.scoring.info import ScorerEntry, ScorerInfo
from harness.scoring.registry import build_scorer, list_scorers, resolve_scorer, scorer

__all__ = [
    "BoundScorer",
    "ScorerEntry",
    "ScorerInfo",
    "build_scorer",
    "first_json_object",
    "list_scorers",
    "resolve_scorer",
    "scorer",
]
