"""The `gates` section of a suite: what must hold to ship.

A gate is one plain sentence in YAML (docs/decision.md has the reference):

    gates:
      - {type: beats, arm: tuned, baseline: prompt, min_win_rate_lower: 0.5}
      - {type: not_worse, arm: tuned, baseline: prompt, scorers: all, max_drop: 2 points}
      - {type: threshold, arm: tuned, scorer: json_valid, min: 0.98}
      - {type: no_regression, arm: tuned, baseline: prompt, golden_set: general_guard}
      - {type: vs_baseline_run, arms: all, scorers: all, max_drop: 0.02}

One model with a `type` field (not a union of models) keeps pydantic's error locations the ones
a user sees in the file; which fields each type needs is checked by `check_gates`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

GateType = Literal["beats", "not_worse", "threshold", "no_regression", "vs_baseline_run"]
GATE_TYPES: tuple[str, ...] = ("beats", "not_worse", "threshold", "no_regression",
                               "vs_baseline_run")
ALL = "all"
LADDER_ARM = "ladder"  # in a ladder suite, a gate's arm is each rung in turn
DEFAULT_MAX_DROP = 0.02

# Which optional fields each gate type reads; any other field set on a gate is an error.
_FIELDS: dict[str, set[str]] = {
    "beats": {"arm", "baseline", "scorer", "golden_set", "min_win_rate_lower"},
    "not_worse": {"arm", "baseline", "scorers", "golden_set", "max_drop"},
    "threshold": {"arm", "scorer", "golden_set", "min", "max", "require_confidence"},
    "no_regression": {"arm", "baseline", "scorers", "golden_set", "max_drop"},
    "vs_baseline_run": {"arms", "scorers", "golden_set", "max_drop"},
}
_REQUIRED: dict[str, set[str]] = {
    "beats": {"arm", "baseline"},
    "not_worse": {"arm", "baseline"},
    "threshold": {"arm", "scorer"},
    "no_regression": {"arm", "baseline"},
    "vs_baseline_run": set(),
}
_COMMON = {"type", "name"}

_POINTS = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(points?|pts?|%)\s*$", re.IGNORECASE)


def parse_fraction(value: Any) -> Any:
    """0.02, "2 points", "2 pts" and "2%" all mean 0.02 of the scorer's range."""
    if isinstance(value, str):
        match = _POINTS.match(value)
        if not match:
            raise PydanticCustomError("fraction", "expected a number (0.02) or points "
                                      "('2 points')")
        return float(match.group(1)) / 100.0
    return value


class GateSpec(BaseModel):
    """One approval gate. Drops and thresholds are fractions of a scorer's range (0..1 scale):
    0.02 and "2 points" are the same."""

    model_config = ConfigDict(extra="forbid")

    type: GateType = Field(description="beats | not_worse | threshold | no_regression | "
                           "vs_baseline_run")
    name: str | None = Field(None, description="a label for reports; default: the gate "
                             "written out as a sentence")
    arm: str | None = Field(None, description="the arm under test (e.g. tuned)")
    arms: str | list[str] | None = Field(None, description="vs_baseline_run: arms to check "
                                         "against the baseline run, or 'all' (default)")
    baseline: str | list[str] | None = Field(None, description="arm(s) to compare against, "
                                             "or 'all' for every other arm")
    scorer: str | None = Field(None, description="beats: default the primary scorer; "
                               "threshold: required")
    scorers: str | list[str] | None = Field(None, description="scorer names or 'all' "
                                            "(default)")
    golden_set: str | None = Field(None, description="limit to one golden set; default: the "
                                   "non-guard sets (no_regression: the guard sets)")
    min_win_rate_lower: float = Field(0.5, ge=0.0, le=1.0, description="beats: the lower end "
                                      "of the win-rate interval must be above this")
    max_drop: float | None = Field(None, description="largest tolerated drop, "
                                   "a fraction of the scorer's range ('2 points' = 0.02); "
                                   f"default {DEFAULT_MAX_DROP}")
    min: float | None = Field(None, description="threshold: the mean must be at least this")
    max: float | None = Field(None, description="threshold: the mean must be at most this")
    require_confidence: bool = Field(False, description="kept so older suites load: a "
                                     "threshold is always judged on the mean's 95% interval")

    @field_validator("max_drop", mode="before")
    @classmethod
    def _points(cls, value: Any) -> Any:
        value = parse_fraction(value)
        if isinstance(value, int | float) and not 0.0 <= value <= 1.0:
            raise PydanticCustomError("fraction", "max_drop is a fraction of the scorer's "
                                      "range, 0..1: write 0.02 or '2 points'")
        return value

    @property
    def drop(self) -> float:
        return DEFAULT_MAX_DROP if self.max_drop is None else self.max_drop


Loc = tuple[Any, ...]


def names_of(value: str | list[str] | None) -> list[str] | None:
    """A list of names, or None for 'all' / unset."""
    if value is None or value == ALL:
        return None
    return [value] if isinstance(value, str) else list(value)


def check_gates(gates: list[GateSpec], arm_names: list[str], scorer_names: list[str],
                golden_set_names: list[str] | None = None,
                rungs: list[str] | None = None) -> list[tuple[Loc, str]]:
    """Problems with the gates of a suite as (location, message); empty when all is well.
    `rungs`: the suite's ladder, whose gates are templates (their arm is each rung in turn)."""
    problems: list[tuple[Loc, str]] = []
    ladder = rungs is not None

    def unknown(loc: Loc, what: str, name: str, known: list[str], allow_all: bool) -> None:
        expected = ", ".join(([ALL] if allow_all else []) + known) or "none"
        problems.append((loc, f"'{name}' is not {what} of this suite; expected one of: "
                         f"{expected}"))

    for i, gate in enumerate(gates):
        loc: Loc = ("gates", i)
        given = {f for f in gate.model_fields_set if getattr(gate, f) is not None} - _COMMON
        for field in sorted(given - _FIELDS[gate.type]):
            problems.append((loc + (field,), f"a {gate.type} gate does not use '{field}'; "
                             f"it takes: {', '.join(sorted(_FIELDS[gate.type]))}"))
        for field in sorted(_REQUIRED[gate.type] - given - ({"arm"} if ladder else set())):
            problems.append((loc + (field,), f"a {gate.type} gate needs '{field}'"))
        if ladder and gate.arm not in (None, LADDER_ARM):
            problems.append((loc + ("arm",), f"in a ladder suite each gate is judged with every "
                             f"rung as its arm: write `arm: {LADDER_ARM}` or leave `arm` out "
                             f"(not '{gate.arm}')"))
        elif not ladder and gate.arm == LADDER_ARM and LADDER_ARM not in arm_names:
            problems.append((loc + ("arm",), f"`arm: {LADDER_ARM}` needs a top-level "
                             "`ladder:` list of rungs (arm names)"))
        elif not ladder and gate.arm is not None and gate.arm not in arm_names:
            unknown(loc + ("arm",), "an arm", gate.arm, arm_names, False)
        for key, known, what in (("baseline", arm_names, "an arm"),
                                 ("arms", arm_names, "an arm"),
                                 ("scorers", scorer_names, "a scorer")):
            for name in names_of(getattr(gate, key)) or []:
                if name not in known:
                    unknown(loc + (key,), what, name, known, True)
        if not ladder and gate.arm is not None and gate.arm in (names_of(gate.baseline) or []):
            problems.append((loc + ("baseline",), f"arm '{gate.arm}' cannot be compared with "
                             "itself"))
        if gate.scorer is not None and gate.scorer not in scorer_names:
            unknown(loc + ("scorer",), "a scorer", gate.scorer, scorer_names, False)
        if (golden_set_names is not None and gate.golden_set is not None
                and gate.golden_set not in golden_set_names):
            unknown(loc + ("golden_set",), "a golden set", gate.golden_set, golden_set_names,
                    False)
        if gate.type == "threshold" and gate.min is None and gate.max is None:
            problems.append((loc, "a threshold gate needs 'min' or 'max'"))
    return problems


def gate_for_rung(gate: GateSpec, rung: str) -> GateSpec | str:
    """A ladder suite's gate with `rung` as its candidate arm, or why it does not apply to that
    rung: a rung is never compared with itself, so it is dropped from the gate's baselines
    (n/a when no other baseline is left), and a vs_baseline_run gate listing other arms skips
    it."""
    label = {"name": f"{gate.name} ({rung})"} if gate.name else {}
    if gate.type == "vs_baseline_run":
        listed = names_of(gate.arms)
        if listed is not None and rung not in listed:
            return f"it checks {', '.join(listed)}, not this rung"
        return gate.model_copy(update={"arms": [rung], **label})
    update: dict[str, Any] = {"arm": rung, **label}
    listed = names_of(gate.baseline)
    if listed is not None and rung in listed:
        others = [b for b in listed if b != rung]
        if not others:
            return f"its baseline is {rung} itself: a rung is not compared with itself"
        update["baseline"] = others[0] if len(others) == 1 else others
    return gate.model_copy(update=update)
