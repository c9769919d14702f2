"""Judging each gate of a suite against the evidence: pass, fail, inconclusive or skipped.

Every gate is made of checks (one per baseline, scorer and scope), each with three outcomes.
With L..H the 95% interval and T the check's bar:
  beats            pass if L > T,        fail if H < T,        else inconclusive
  not_worse /      pass if L >= -drop,   fail if H < -drop,    else inconclusive
  no_regression
  threshold        pass if L >= min,     fail if H < min,      else inconclusive (and for max)
  vs_baseline_run  pass if L >= -drop,   fail if H < -drop,    else inconclusive

The error rates of the decision (see docs/decision.md):
- APPROVE needs every check to pass on its own unadjusted 95% interval: a wrong approval needs
  every check to be wrong at once, so the chance stays at most 2.5% whatever the number m of
  checks.
- A check FAILs only if it still fails after Holm's step-down correction over all m checks of
  the suite (one-sided level 2.5%): the chance of any wrong REJECT does not grow with m. A
  check whose interval misses the bar but does not survive the correction is inconclusive.
  Each check's one-sided p-value of "the bar holds" comes from its interval (normal
  approximation of the bootstrap: se = (upper bound - estimate) / 1.96).
A failed or inconclusive gate never becomes a pass by collecting more gates. An inconclusive
check says how many examples would likely settle it (stats.examples_needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness import distributions as sps  # scipy.stats' norm, without its 0.6 s import
from harness import stats
from harness.decision import text
from harness.decision.analysis import TASKS, Analysis, ArmScore
from harness.decision.compare import Comparison
from harness.spec.gates import GateSpec, names_of

PASS, FAIL, INCONCLUSIVE, SKIPPED = "pass", "fail", "inconclusive", "skipped"
_SEVERITY = {FAIL: 3, INCONCLUSIVE: 2, PASS: 1, SKIPPED: 0}


ALPHA = 0.025  # one-sided: the tail of a two-sided 95% interval
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Check:
    status: str
    message: str
    examples_needed: int | None = None  # total examples that would likely settle it
    margin: float = 0.0  # how far the deciding bound is past the bar (negative = wrong side)
    # One-sided p-value of "the bar holds" (small = evidence the check fails); None for checks
    # without an interval (skipped, missing data).
    p_fail: float | None = None


@dataclass(frozen=True)
class GateResult:
    index: int
    gate: GateSpec
    title: str
    status: str
    checks: tuple[Check, ...]

    @property
    def reason(self) -> str:
        """The check that decided the gate: the closest call among those with its status."""
        deciding = [c for c in self.checks if c.status == self.status]
        if not deciding:
            return self.title
        closest = min(deciding, key=lambda c: c.margin)
        if self.status == PASS and len(deciding) > 1:
            return f"all {len(deciding)} checks pass; the closest: {closest.message}"
        more = f" (and {len(deciding) - 1} more)" if len(deciding) > 1 else ""
        return closest.message + more

    @property
    def examples_needed(self) -> int | None:
        needed = [c.examples_needed for c in self.checks
                  if c.status == INCONCLUSIVE and c.examples_needed is not None]
        return max(needed) if needed else None

    @property
    def is_regression_gate(self) -> bool:
        return self.gate.type == "vs_baseline_run"


def interval_status(interval: stats.Interval, bar: float, *, inclusive: bool = False) -> str:
    """The three-way rule of interval gates: is the quantity above `bar`?
    PASS when the whole interval is above it (or on it, if inclusive), FAIL when all of it is
    below, else INCONCLUSIVE. beats: bar = min_win_rate_lower, strict; not_worse and
    no_regression: the difference against -max_drop, inclusive (identical arms pass a 0 drop)."""
    if interval.low > bar or (inclusive and interval.low >= bar - 1e-12):
        return PASS
    if interval.high < bar:
        return FAIL
    return INCONCLUSIVE


def p_below(interval: stats.Interval, bar: float) -> float:
    """One-sided p-value of "the quantity is at least `bar`", from its 95% interval."""
    se = (interval.high - interval.estimate) / _Z95
    gap = interval.estimate - bar
    if not (np.isfinite(se) and se > 0):
        return 0.0 if gap < -1e-12 else 1.0
    return float(sps.norm.cdf(gap / se))


def p_above(interval: stats.Interval, bar: float) -> float:
    """One-sided p-value of "the quantity is at most `bar`"."""
    se = (interval.estimate - interval.low) / _Z95
    gap = bar - interval.estimate
    if not (np.isfinite(se) and se > 0):
        return 0.0 if gap < -1e-12 else 1.0
    return float(sps.norm.cdf(gap / se))


def holm(p_values: list[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected, controlling the family-wise error."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    m = len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (m - rank):
            break
        rejected[i] = True
    return rejected


def evaluate_gates(gates: list[GateSpec], analysis: Analysis | None,
                   comparison: Comparison | None = None) -> list[GateResult]:
    """Judge each gate; without an analysis (harness compare) only regression gates apply.
    Failures are confirmed with Holm's correction over every check of every gate."""
    per_gate = []
    for gate in gates:
        if analysis is None and gate.type != "vs_baseline_run":
            checks = [Check(SKIPPED, "judged by `harness run` and `harness report`")]
        else:
            checks = _EVALUATORS[gate.type](gate, analysis, comparison)
        per_gate.append(checks or [Check(SKIPPED, "nothing to check")])
    per_gate = _confirm_failures(per_gate)
    results = []
    for i, (gate, checks) in enumerate(zip(gates, per_gate, strict=True)):
        status = max((c.status for c in checks), key=_SEVERITY.__getitem__, default=SKIPPED)
        why = _unreliable_evidence(gate, analysis)
        if why and status != SKIPPED:
            # After Holm: like an arm's error rate, this withholds a verdict, it is no check.
            # -inf: it is the gate's reason whatever the other checks say.
            status, checks = INCONCLUSIVE, [Check(INCONCLUSIVE, why, margin=-math.inf), *checks]
        results.append(GateResult(i, gate, gate.name or describe(gate, analysis), status,
                                  tuple(checks)))
    return results


def gate_scorers(gate: GateSpec, an: Analysis) -> list[str]:
    """The scorers (and judges) whose evidence a gate's checks read."""
    if gate.type == "beats":
        return [gate.scorer or an.primary]
    if gate.type == "threshold":
        return [gate.scorer] if gate.scorer else []
    wanted = names_of(gate.scorers)
    if gate.type == "vs_baseline_run":
        return wanted or [s.name for s in an.scorers]
    if gate.type == "no_regression" and not gate.golden_set:
        scopes = [s.name for s in an.guard_scopes()] or [TASKS]
    else:
        scopes = [an.scope_for(gate.golden_set)]
    found = {s for scope in scopes for s in an.scorers_in(scope)}
    return [s for s in dict.fromkeys(wanted or [m.name for m in an.scorers]) if s in found]


def _unreliable_evidence(gate: GateSpec, an: Analysis | None) -> str:
    """Why the scorers a gate reads cannot decide it (evaluator errors above max_error_rate, a
    pairwise judge below its consistency threshold), or ""."""
    if an is None or not an.unreliable:
        return ""
    return "; ".join(an.unreliable[s] for s in gate_scorers(gate, an) if s in an.unreliable)


def count_checks(results: list[GateResult]) -> int:
    """m: the checks the verdict rests on (skipped ones excluded)."""
    return sum(1 for r in results for c in r.checks if c.status != SKIPPED)


def _confirm_failures(per_gate: list[list[Check]]) -> list[list[Check]]:
    flat = [(g, k, c) for g, checks in enumerate(per_gate) for k, c in enumerate(checks)
            if c.status != SKIPPED]
    m = len(flat)
    tested = [(g, k, c) for g, k, c in flat if c.p_fail is not None]
    # Checks without a p-value (missing data) still count in m: they are inconclusive checks.
    p_values = [c.p_fail for _, _, c in tested] + [1.0] * (m - len(tested))
    rejected = holm(p_values)[: len(tested)] if m else []
    out = [list(checks) for checks in per_gate]
    for (g, k, c), fails in zip(tested, rejected, strict=True):
        if c.status == FAIL and not fails:
            out[g][k] = Check(INCONCLUSIVE, f"{c.message}; but not after Holm's correction over "
                              f"the {m} checks of this suite (p = {c.p_fail:.3g})",
                              c.examples_needed, c.margin, c.p_fail)
    return out


def gate_arms(gate: GateSpec, all_arms: list[str]) -> list[str]:
    """Every arm a gate involves: its arm, its baselines, or the arms it lists."""
    if gate.type == "vs_baseline_run":
        return names_of(gate.arms) or list(all_arms)
    arms = [gate.arm] if gate.arm else []
    if gate.baseline is not None:
        arms += names_of(gate.baseline) or [a for a in all_arms if a != gate.arm]
    return arms


def apply_error_rates(results: list[GateResult], error_rates: dict[str, float],
                      max_error_rate: float, all_arms: list[str]) -> list[GateResult]:
    """A gate involving an arm that failed on more than `max_error_rate` of its requests cannot
    pass or fail: its evidence is made of the worst scores of failed requests."""
    out = []
    for r in results:
        over = [(a, error_rates[a]) for a in gate_arms(r.gate, all_arms)
                if error_rates.get(a, 0.0) > max_error_rate]
        if not over or r.status == SKIPPED:
            out.append(r)
            continue
        why = "; ".join(f"arm {a} failed on {rate:.0%} of its requests (max_error_rate "
                        f"{max_error_rate:.0%})" for a, rate in over)
        checks = (Check(INCONCLUSIVE, why), *r.checks)
        out.append(GateResult(r.index, r.gate, r.title, INCONCLUSIVE, checks))
    return out


def describe(gate: GateSpec, an: Analysis | None) -> str:
    """The gate as a sentence a manager can read."""
    primary = an.primary if an else "the primary scorer"
    base = _baseline_words(gate)
    where = f" on {gate.golden_set}" if gate.golden_set else ""
    if gate.type == "beats":
        return (f"{gate.arm} beats {base} on {gate.scorer or primary}{where} (win-rate "
                f"interval above {text.num(gate.min_win_rate_lower)})")
    if gate.type == "not_worse":
        return (f"{gate.arm} is not worse than {base} by more than "
                f"{text.points(gate.drop)} on {_scorer_words(gate)}{where}")
    if gate.type == "threshold":
        bars = [f"at least {gate.min:g}" if gate.min is not None else "",
                f"at most {gate.max:g}" if gate.max is not None else ""]
        return f"{gate.scorer} of {gate.arm} is {' and '.join(b for b in bars if b)}{where}"
    if gate.type == "no_regression":
        return (f"{gate.arm} does not lose more than {text.points(gate.drop)} to {base} on "
                f"{gate.golden_set or 'the guard sets'}")
    arms = ", ".join(names_of(gate.arms) or ["every arm"])
    return (f"{arms}: no drop of more than {text.points(gate.drop)} on "
            f"{_scorer_words(gate)}{where} against the baseline run")


def _baseline_words(gate: GateSpec) -> str:
    names = names_of(gate.baseline)
    return " and ".join(names) if names else "every other arm"


def _scorer_words(gate: GateSpec) -> str:
    names = names_of(gate.scorers)
    return ", ".join(names) if names else "any scorer"


def _baselines(gate: GateSpec, an: Analysis) -> list[str]:
    return names_of(gate.baseline) or [a for a in an.arms if a != gate.arm]


def _beats(gate: GateSpec, an: Analysis, _: Comparison | None) -> list[Check]:
    scope = an.scope_for(gate.golden_set)
    scorer = gate.scorer or an.primary
    bar = gate.min_win_rate_lower
    checks = []
    for baseline in _baselines(gate, an):
        win = an.win(scope, gate.arm, baseline, scorer)
        if win is None:
            checks.append(Check(INCONCLUSIVE, f"no paired {scorer} scores of {gate.arm} and "
                                f"{baseline} on {an.scope(scope).label}"))
            continue
        iv = win.interval
        c = win.counts
        evidence = (f"win rate {text.interval(iv)} on {scorer} ({c.wins} wins, {c.ties} ties, "
                    f"{c.losses} losses; sign test {text.pvalue(win.test.p_value)})")
        status = interval_status(iv, bar)
        p = p_below(iv, bar)
        if status == PASS:
            checks.append(Check(PASS, f"{gate.arm} beats {baseline}: {evidence}",
                                margin=iv.low - bar, p_fail=p))
        elif status == FAIL:
            checks.append(Check(FAIL, f"{gate.arm} does not beat {baseline}: {evidence}, "
                                f"entirely below {text.num(bar)}", margin=iv.high - bar,
                                p_fail=p))
        else:
            needed = stats.examples_needed(iv, c.n, bar)
            checks.append(Check(INCONCLUSIVE, f"{gate.arm} vs {baseline}: {evidence} includes "
                                f"{text.num(bar)}; {_needed_words(needed, c.n)}", needed,
                                iv.low - bar, p))
    return checks


def _drop_checks(gate: GateSpec, an: Analysis, scopes: list[str]) -> list[Check]:
    allowed = -gate.drop
    wanted = names_of(gate.scorers)
    checks = []
    for scope in scopes:
        scorers = [s for s in an.scorers_in(scope) if wanted is None or s in wanted]
        if not scorers:
            checks.append(Check(INCONCLUSIVE, f"no scores of {_scorer_words(gate)} on "
                                f"{an.scope(scope).label}"))
        for baseline in _baselines(gate, an):
            for scorer in scorers:
                d = an.diff(scope, gate.arm, baseline, scorer)
                if d is None:
                    checks.append(Check(INCONCLUSIVE, f"no paired {scorer} scores of "
                                        f"{gate.arm} and {baseline} on {an.scope(scope).label}"))
                    continue
                iv = d.interval
                evidence = (f"{gate.arm} vs {baseline} on {scorer} ({an.scope(scope).label}): "
                            f"{text.pts_interval(iv)}, {d.test.name} {text.pvalue(d.test.p_value)}")
                margin = iv.low - allowed
                status = interval_status(iv, allowed, inclusive=True)
                p = p_below(iv, allowed)
                if status == PASS:
                    checks.append(Check(PASS, f"{evidence}, within the "
                                        f"{text.points(gate.drop)} allowance", margin=margin,
                                        p_fail=p))
                elif status == FAIL:
                    checks.append(Check(FAIL, f"{evidence}: worse by more than "
                                        f"{text.points(gate.drop)}", margin=iv.high - allowed,
                                        p_fail=p))
                else:
                    needed = stats.examples_needed(iv, d.n, allowed)
                    checks.append(Check(INCONCLUSIVE, f"{evidence} reaches below "
                                        f"-{text.points(gate.drop)}; {_needed_words(needed, d.n)}",
                                        needed, margin, p))
    return checks


def _not_worse(gate: GateSpec, an: Analysis, _: Comparison | None) -> list[Check]:
    return _drop_checks(gate, an, [an.scope_for(gate.golden_set)])


def _no_regression(gate: GateSpec, an: Analysis, _: Comparison | None) -> list[Check]:
    if gate.golden_set:
        return _drop_checks(gate, an, [an.scope_for(gate.golden_set)])
    guards = [s.name for s in an.guard_scopes()]
    if not guards and an.scope(TASKS).guard:
        guards = [TASKS]
    if not guards:
        return [Check(INCONCLUSIVE, "this run has no guard golden set (mark one with "
                      "`guard: true`) or name one with `golden_set`")]
    return _drop_checks(gate, an, guards)


def _threshold(gate: GateSpec, an: Analysis, _: Comparison | None) -> list[Check]:
    scope = an.scope_for(gate.golden_set)
    score = an.arm_scores.get((scope, gate.arm, gate.scorer))
    label = an.scope(scope).label
    if score is None:
        return [Check(INCONCLUSIVE, f"no {gate.scorer} scores of {gate.arm} on {label}")]
    what = f"{gate.scorer} of {gate.arm} on {label} is {text.interval(score.interval, 3)}"
    checks = []
    if gate.min is not None:
        checks.append(_bar_check(what, score, gate.min, True))
    if gate.max is not None:
        checks.append(_bar_check(what, score, gate.max, False))
    return checks


def _bar_check(what: str, score: ArmScore, bar: float, at_least: bool) -> Check:
    """The mean's 95% interval against the bar: a point estimate would flip on noise."""
    iv = score.interval
    words = f"{'at least' if at_least else 'at most'} {bar:g}"
    # Distances past the bar, positive = on the good side.
    best, worst = ((iv.high - bar, iv.low - bar) if at_least
                   else (bar - iv.low, bar - iv.high))
    p = p_below(iv, bar) if at_least else p_above(iv, bar)
    if worst >= -1e-12:
        return Check(PASS, f"{what}: confidently {words}", margin=worst, p_fail=p)
    if best < 0:
        return Check(FAIL, f"{what}: confidently misses {words}", margin=best, p_fail=p)
    needed = stats.examples_needed(iv, score.n, bar)
    return Check(INCONCLUSIVE, f"{what}: the interval includes {bar:g}; "
                 f"{_needed_words(needed, score.n)}", needed, worst, p)


def _vs_baseline_run(gate: GateSpec, an: Analysis, comp: Comparison | None) -> list[Check]:
    if comp is None:
        return [Check(SKIPPED, "no baseline run to compare with")]
    arms = names_of(gate.arms) or comp.arms
    wanted = names_of(gate.scorers)
    checks = []
    for (golden_set, arm, scorer), d in comp.deltas.items():
        if golden_set != gate.golden_set or arm not in arms or (wanted and scorer not in wanted):
            continue
        iv = d.interval
        evidence = (f"{arm} on {scorer}: {text.pts_interval(iv)} against the baseline run "
                    f"({d.test.name} {text.pvalue(d.test.p_value)})")
        allowed = -gate.drop
        status = interval_status(iv, allowed, inclusive=True)
        p = p_below(iv, allowed)
        if status == FAIL:
            checks.append(Check(FAIL, f"regression: {evidence}, a drop of more than "
                                f"{text.points(gate.drop)}", margin=iv.high - allowed,
                                p_fail=p))
        elif status == PASS:
            checks.append(Check(PASS, f"{evidence}, within the {text.points(gate.drop)} "
                                "allowance", margin=iv.low - allowed, p_fail=p))
        else:
            needed = stats.examples_needed(iv, d.n, allowed)
            checks.append(Check(INCONCLUSIVE, f"{evidence} reaches below "
                                f"-{text.points(gate.drop)}; {_needed_words(needed, d.n)}",
                                needed, iv.low - allowed, p))
    return checks


def _needed_words(needed: int | None, n: int) -> str:
    if needed is None:
        return "the arms look even: no feasible number of examples would likely settle it"
    return f"about {needed - n} more examples ({needed} in all) would likely settle it"


_EVALUATORS = {
    "beats": _beats,
    "not_worse": _not_worse,
    "threshold": _threshold,
    "no_regression": _no_regression,
    "vs_baseline_run": _vs_baseline_run,
}
