"""From gate results to one verdict with its reasons and exit code.

A partial run (something never attempted) is INCONCLUSIVE whatever its gates say: it never
approves or rejects on part of the data. Otherwise REJECT if any gate failed (after Holm's
correction over the m checks, see gates.py); else INCONCLUSIVE if any gate lacks evidence;
else APPROVE. A suite without gates gets "NO GATES" (exit 0): the report still shows the
evidence, but nothing was asked of it. When every failed gate is a regression against a
baseline run, the exit code is EXIT_REGRESSION rather than EXIT_REJECT.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.decision.exit_codes import (
    EXIT_APPROVE,
    EXIT_INCONCLUSIVE,
    EXIT_REGRESSION,
    EXIT_REJECT,
)
from harness.decision.gates import FAIL, INCONCLUSIVE, PASS, GateResult, count_checks

APPROVE, REJECT, UNDECIDED, NO_GATES = "APPROVE", "REJECT", "INCONCLUSIVE", "NO GATES"


@dataclass(frozen=True)
class Verdict:
    decision: str
    exit_code: int
    reasons: tuple[str, ...]  # the why, most important first, one line each
    examples_needed: int | None = None  # for INCONCLUSIVE: total examples likely to settle it
    checks: int = 0  # m, the checks the decision rests on

    @property
    def policy(self) -> str:
        return (f"APPROVE needs each of the {self.checks} checks to pass on its own 95% "
                "interval; a check fails only if it still fails after Holm's correction over "
                f"all {self.checks} checks (one-sided 2.5%), so neither a wrong approval nor a "
                "wrong rejection grows likelier with the number of checks; a partial run is "
                "never approved or rejected")

    @property
    def headline(self) -> str:
        return f"{self.decision}: {self.reasons[0]}" if self.reasons else self.decision


def decide(results: list[GateResult], *, partial: str | None = None) -> Verdict:
    """`partial`: why the run is incomplete, or None for a complete run."""
    failed = [r for r in results if r.status == FAIL]
    unsure = [r for r in results if r.status == INCONCLUSIVE]
    passed = [r for r in results if r.status == PASS]
    needed = [r.examples_needed for r in unsure if r.examples_needed is not None]
    examples_needed = max(needed) if needed else None
    m = count_checks(results)
    if partial:
        reasons = [f"the run is partial ({partial}): it is neither approved nor rejected; "
                   "run the suite again to finish it"]
        reasons += [f"would fail: {r.title} — {r.reason}" for r in failed]
        reasons += [f"unsure: {r.title} — {r.reason}" for r in unsure]
        reasons += [f"passed so far: {r.title}" for r in passed]
        return Verdict(UNDECIDED, EXIT_INCONCLUSIVE, tuple(reasons), examples_needed, m)
    if failed:
        code = EXIT_REGRESSION if all(r.is_regression_gate for r in failed) else EXIT_REJECT
        reasons = [f"failed: {r.title} — {r.reason}" for r in failed]
        reasons += [f"unsure: {r.title} — {r.reason}" for r in unsure]
        return Verdict(REJECT, code, tuple(reasons), examples_needed, m)
    if unsure:
        reasons = [f"unsure: {r.title} — {r.reason}" for r in unsure]
        reasons += [f"passed: {r.title}" for r in passed]
        return Verdict(UNDECIDED, EXIT_INCONCLUSIVE, tuple(reasons), examples_needed, m)
    if not passed:
        return Verdict(NO_GATES, EXIT_APPROVE, ("the suite has no gates that apply to this run "
                                                "(add a `gates` section to decide)",), None, m)
    return Verdict(APPROVE, EXIT_APPROVE, tuple(f"passed: {r.title} — {r.reason}"
                                                for r in passed), None, m)
