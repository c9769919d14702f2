"""Everything a decision needs, from run data alone: analysis, gates, verdict, costs, compare.

Pure: it takes RunData (already loaded) and returns an Evaluation that the reports, the console
summary and the exit code are all rendered from.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from harness import stats
from harness.decision.analysis import Analysis, analyse
from harness.decision.compare import Comparison, compare_runs
from harness.decision.completeness import Completeness, completeness
from harness.decision.cost import ArmCost, BreakEven, arm_costs, break_even
from harness.decision.exit_codes import EXIT_APPROVE, EXIT_INCONCLUSIVE, EXIT_REGRESSION
from harness.decision.gates import (
    FAIL,
    INCONCLUSIVE,
    GateResult,
    apply_error_rates,
    evaluate_gates,
)
from harness.decision.ladder import Ladder, evaluate_ladder
from harness.decision.verdict import Verdict, decide
from harness.errors import ConfigError
from harness.spec.checks import ladder_problems
from harness.spec.cost import CostConfig
from harness.spec.gates import GateSpec, check_gates, names_of
from harness.store import RunData
from harness.yamlio import format_loc


@dataclass
class Evaluation:
    run: RunData
    analysis: Analysis
    gates: list[GateSpec]
    results: list[GateResult]
    verdict: Verdict
    completeness: Completeness
    costs: list[ArmCost]
    break_evens: list[BreakEven]
    cost_config: CostConfig | None
    comparison: Comparison | None = None
    baseline: RunData | None = None
    ladder: Ladder | None = None  # the suite's ladder: then its verdict is the run's


@dataclass
class CompareEvaluation:
    baseline: RunData
    current: RunData
    comparison: Comparison
    results: list[GateResult]
    decision: str  # "REGRESSION" | "INCONCLUSIVE" | "NO REGRESSION"
    exit_code: int


def suite_gates(run: RunData) -> list[GateSpec]:
    """The gates recorded in the run's manifest, checked against the run's arms and scorers."""
    suite = run.manifest.suite
    gates = []
    for i, raw in enumerate(suite.get("gates") or []):
        try:
            gates.append(GateSpec.model_validate(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = format_loc(("gates", i, *err["loc"]))
            raise ConfigError(f"{run.run_dir}/manifest.json: {loc}: {err['msg']}") from exc
    arms = run.manifest.arm_names
    # Pairwise judges are named in beats gates like scorers.
    pairwise = [j.name for j in run.manifest.judges if j.pairwise]
    scorers = [s.name for s in run.manifest.scorers] + pairwise
    golden = [g.name for g in run.manifest.golden_sets]
    ladder = suite_ladder(run)
    problems = (check_gates(gates, arms, scorers, golden or None, ladder)
                + ladder_problems(ladder, gates, arms) + pairwise_gate_problems(gates, pairwise))
    if problems:
        loc, message = problems[0]
        raise ConfigError(f"{run.run_dir}/manifest.json: {format_loc(loc)}: {message}")
    return gates


def pairwise_gate_problems(gates: list[GateSpec], pairwise: list[str]) -> list[tuple]:
    """A pairwise judge has outcomes per pair, no value per arm: only beats gates read it."""
    return [(("gates", i, "scorer"), f"'{gate.scorer}' is a pairwise judge: only a beats gate "
             "can use it") for i, gate in enumerate(gates)
            if gate.scorer in pairwise and gate.type != "beats"] + [
            (("gates", i, "scorers"), f"'{name}' is a pairwise judge: only a beats gate can use "
             "it") for i, gate in enumerate(gates) for name in names_of(gate.scorers) or []
            if name in pairwise]


def suite_ladder(run: RunData) -> list[str] | None:
    """The suite's `ladder:` rungs as recorded in the manifest (checked by suite_gates)."""
    raw = run.manifest.suite.get("ladder")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise ConfigError(f"{run.run_dir}/manifest.json: ladder: expected a list of arm names")
    return list(raw)


def suite_cost(run: RunData) -> CostConfig | None:
    raw = run.manifest.suite.get("cost")
    if raw is None:
        return None
    try:
        return CostConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{run.run_dir}/manifest.json: {format_loc(('cost', *err['loc']))}: "
                          f"{err['msg']}") from exc


def regression_gates(gates: list[GateSpec], max_drop: float | None) -> list[GateSpec]:
    """The suite's vs_baseline_run gates (max_drop overridden if given), or a default one."""
    found = [g for g in gates if g.type == "vs_baseline_run"]
    if max_drop is not None:
        found = [g.model_copy(update={"max_drop": max_drop}) for g in found]
    return found or [GateSpec(type="vs_baseline_run", max_drop=max_drop)]


def evaluate(run: RunData, baseline: RunData | None = None, *, common_ids: bool = False,
             max_drop: float | None = None, n_resamples: int = stats.DEFAULT_RESAMPLES,
             seed: int = 0) -> Evaluation:
    gates = suite_gates(run)
    cost = suite_cost(run)
    comparison = None
    if baseline is not None:
        regression = regression_gates(gates, max_drop)
        gates = [g for g in gates if g.type != "vs_baseline_run"] + regression
        comparison = compare_runs(baseline, run, common_ids=common_ids,
                                  golden_sets=(None, *(g.golden_set for g in regression)),
                                  n_resamples=n_resamples, seed=seed)
    win_scorers = tuple(g.scorer for g in gates if g.type == "beats" and g.scorer)
    analysis = analyse(run, win_scorers=win_scorers, n_resamples=n_resamples, seed=seed)
    done = completeness(run)
    costs = arm_costs(run.tables.responses, analysis.arms, run.manifest)
    error_rates = {c.arm: c.error_rate for c in costs}
    rungs = suite_ladder(run)
    ladder = None
    if rungs:
        # The ladder's verdict is the run's; the gates are shown per rung.
        ladder = evaluate_ladder(rungs, gates, analysis, comparison, costs, cost,
                                 error_rates=error_rates,
                                 max_error_rate=run.manifest.max_error_rate,
                                 partial=done.summary)
        gates, results, verdict = ladder.gates, ladder.results, ladder.verdict
    else:
        results = evaluate_gates(gates, analysis, comparison)
        results = apply_error_rates(results, error_rates, run.manifest.max_error_rate,
                                    analysis.arms)
        verdict = decide(results, partial=done.summary)
    return Evaluation(run, analysis, gates, results, verdict, done, costs,
                      break_even(costs, cost, gate_pairs(gates, analysis)) if cost else [],
                      cost, comparison, baseline, ladder)


def gate_pairs(gates: list[GateSpec], analysis: Analysis) -> list[tuple[str, str]] | None:
    """(tuned arm, baseline) pairs the gates compare; None when no gate compares a tuned arm."""
    pairs = []
    for gate in gates:
        if gate.arm in analysis.tuned_arms and gate.type in ("beats", "not_worse",
                                                             "no_regression"):
            baselines = names_of(gate.baseline) or [a for a in analysis.arms if a != gate.arm]
            pairs += [(gate.arm, b) for b in baselines]
    return pairs or None


def evaluate_compare(baseline: RunData, current: RunData, *, common_ids: bool = False,
                     max_drop: float | None = None,
                     n_resamples: int = stats.DEFAULT_RESAMPLES,
                     seed: int = 0) -> CompareEvaluation:
    gates = regression_gates(suite_gates(current), max_drop)
    comparison = compare_runs(baseline, current, common_ids=common_ids,
                              golden_sets=(None, *(g.golden_set for g in gates)),
                              n_resamples=n_resamples, seed=seed)
    for which, run in (("baseline", baseline), ("current", current)):
        if (done := completeness(run)).partial:
            comparison.notes.append(f"the {which} run is partial: {done.summary}")
    results = evaluate_gates(gates, None, comparison)
    if any(r.status == FAIL for r in results):
        decision, code = "REGRESSION", EXIT_REGRESSION
    elif any(r.status == INCONCLUSIVE for r in results):
        # The change's interval reaches below the allowance: a drop cannot be ruled out.
        decision, code = "INCONCLUSIVE", EXIT_INCONCLUSIVE
    else:
        decision, code = "NO REGRESSION", EXIT_APPROVE
    return CompareEvaluation(baseline, current, comparison, results, decision, code)

