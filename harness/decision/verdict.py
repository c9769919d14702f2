"""From gate results to one verdict with its reasons and exit code.

REJECT if any gate failed; else INCONCLUSIVE if any gate lacks evidence or the run is partial;
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
from harness.decision.gates import FAIL, INCONCLUSIVE, PASS, GateResult

APPROVE, REJECT, UNDECIDED, NO_GATES = "APPROVE", "REJECT", "INCONCLUSIVE", "NO GATES"


@dataclass(frozen=True)
class Verdict:
    decision: str
    exit_code: int
    reasons: tuple[str, ...]  # the why, most important first, one line each
    examples_needed: int | None = None  # for INCONCLUSIVE: total examples likely to settle it

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
    partial_reason = [f"the run is partial: {partial}"] if partial else []
    if failed:
        code = EXIT_REGRESSION if all(r.is_regression_gate for r in failed) else EXIT_REJECT
        reasons = [f"failed: {r.title} — {r.reason}" for r in failed]
        reasons += [f"unsure: {r.title} — {r.reason}" for r in unsure]
        return Verdict(REJECT, code, tuple(reasons + partial_reason), examples_needed)
    if unsure or partial:
        reasons = partial_reason + [f"unsure: {r.title} — {r.reason}" for r in unsure]
        reasons += [f"passed: {r.title}" for r in passed]
        return Verdict(UNDECIDED, EXIT_INCONCLUSIVE, tuple(reasons), examples_needed)
    if not passed:
        return Verdict(NO_GATES, EXIT_APPROVE, ("the suite has no gates that apply to this run "
                                                "(add a `gates` section to decide)",))
    return Verdict(APPROVE, EXIT_APPROVE, tuple(f"passed: {r.title} — {r.reason}"
                                                for r in passed))
