"""The machine-readable summary of a run (and of a compare): plain JSON-ready dicts, pure."""

from __future__ import annotations

import math
from typing import Any

from harness.decision.compare import Comparison
from harness.decision.evaluate import CompareEvaluation, Evaluation
from harness.decision.gates import GateResult
from harness.decision.ladder import Ladder
from harness.stats import Interval

SCHEMA_VERSION = 1


def _f(x: Any) -> float | None:
    """JSON has no NaN: missing numbers are null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _iv(iv: Interval) -> dict[str, float | None]:
    return {"estimate": _f(iv.estimate), "low": _f(iv.low), "high": _f(iv.high),
            "level": iv.level}


def gates_json(results: list[GateResult]) -> list[dict[str, Any]]:
    return [{"index": r.index, "type": r.gate.type, "title": r.title, "status": r.status,
             "reason": r.reason, "examples_needed": r.examples_needed,
             "gate": r.gate.model_dump(mode="json", exclude_none=True),
             "checks": [{"status": c.status, "message": c.message,
                         "examples_needed": c.examples_needed} for c in r.checks]}
            for r in results]


def comparison_json(comp: Comparison) -> dict[str, Any]:
    return {
        "baseline_run": comp.baseline_run, "current_run": comp.current_run,
        "n_common": comp.n_common, "common_ids_only": comp.common_ids_only, "notes": comp.notes,
        "deltas": [{"golden_set": d.golden_set, "arm": d.arm, "scorer": d.scorer, "n": d.n,
                    "baseline_mean": _f(d.baseline_mean), "current_mean": _f(d.current_mean),
                    "delta": _iv(d.interval), "test": d.test.name, "p_value": _f(d.test.p_value)}
                   for d in comp.deltas.values()],
        "flips": [{"arm": f.arm, "scorer": f.scorer, "example_id": f.example_id,
                   "golden_set": f.golden_set, "to": "pass" if f.to_pass else "fail",
                   "baseline_value": _f(f.baseline_value), "current_value": _f(f.current_value)}
                  for f in comp.flips],
    }


def ladder_json(ladder: Ladder) -> dict[str, Any]:
    v = ladder.verdict
    return {
        "decision": v.decision, "exit_code": v.exit_code, "rung": ladder.chosen,
        "line": ladder.line, "reasons": list(v.reasons), "examples_needed": v.examples_needed,
        "order_by": "cost" if ladder.by_cost else "rung order", "order": list(ladder.order),
        "cost_note": ladder.cost_note, "policy": v.policy,
        "gates": [{"index": i, "title": t, "gate": g.model_dump(mode="json", exclude_none=True)}
                  for i, (t, g) in enumerate(zip(ladder.gate_titles, ladder.templates,
                                                 strict=True))],
        "rungs": [{"name": r.name, "position": r.position, "tuned": r.cost.tuned,
                   "cost_per_call": _f(r.cost.per_call),
                   "training_per_call": _f(r.cost.training), "cost": _f(r.cost.total),
                   "cost_unknown": r.cost.unknown, "outcome": r.outcome,
                   "exit_code": r.verdict.exit_code, "why": r.why(),
                   "checks": r.verdict.checks, "examples_needed": r.verdict.examples_needed,
                   "gates": [{"index": g.index, "status": g.status, "reason": g.reason}
                             for g in r.gates]}
                  for r in ladder.rungs],
    }


def run_summary(ev: Evaluation) -> dict[str, Any]:
    an = ev.analysis
    v = ev.verdict
    return {
        "schema_version": SCHEMA_VERSION,
        "suite": an.suite_name, "run_id": an.run_id,
        "status": ev.completeness.status, "partial": ev.completeness.partial,
        "partial_reason": ev.completeness.summary,
        "verdict": {"decision": v.decision, "exit_code": v.exit_code, "reasons": list(v.reasons),
                    "examples_needed": v.examples_needed, "checks": v.checks,
                    "policy": v.policy},
        "gates": gates_json(ev.results),
        "primary_scorer": an.primary, "tie_margin": an.tie_margin,
        "n_resamples": an.n_resamples,
        "scopes": [{"name": s.name, "golden_sets": list(s.golden_sets), "guard": s.guard}
                   for s in an.scopes],
        "arm_scores": [{"scope": k[0], "arm": s.arm, "scorer": s.scorer, "n": s.n,
                        "mean": _iv(s.interval), "sd": _f(s.std)}
                       for k, s in an.arm_scores.items()],
        "win_rates": [{"scope": k[0], "arm": w.arm, "baseline": w.baseline, "scorer": w.scorer,
                       "wins": w.counts.wins, "ties": w.counts.ties, "losses": w.counts.losses,
                       "win_rate": _iv(w.interval), "test": w.test.name,
                       "p_value": _f(w.test.p_value), "n_missing": w.n_missing}
                      for k, w in an.wins.items()],
        "differences": [{"scope": k[0], "arm": d.arm, "baseline": d.baseline,
                         "scorer": d.scorer, "n": d.n, "difference": _iv(d.interval),
                         "test": d.test.name, "p_value": _f(d.test.p_value)}
                        for k, d in an.diffs.items()],
        "tags": [{"tag": t.tag, "scorer": t.scorer, "n": t.n,
                  "means": {a: _f(m) for a, m in t.means.items()}} for t in an.tags],
        "costs": [{**{k: (_f(v) if isinstance(v, float) else v) for k, v in vars(c).items()}}
                  for c in ev.costs],
        "currency": ev.cost_config.currency if ev.cost_config else None,
        "break_even": [{k: (_f(v) if isinstance(v, float) else v) for k, v in vars(b).items()}
                       for b in ev.break_evens],
        "comparison": comparison_json(ev.comparison) if ev.comparison else None,
        "ladder": ladder_json(ev.ladder) if ev.ladder else None,
        "evaluator_errors": [{"scorer": e.scorer, "failed": e.failed, "dropped": e.dropped,
                              "examples": e.examples, "rate": _f(e.rate), "first": e.first}
                             for e in an.evaluator_errors.values()],
        "judges": [{"judge": j.judge, "pairs": j.pairs, "consistent": j.consistent,
                    "position_consistency": _f(j.consistency),
                    "first_position_rate": _f(j.first_position_rate),
                    "tie_rate": _f(j.tie_rate), "human_pairs": j.human_pairs,
                    "human_agreement": _f(j.human_agreement),
                    "min_consistency": j.min_consistency,
                    "min_human_agreement": j.min_human_agreement,
                    "problems": j.problems()}
                   for j in an.judges.values()],
        "unreliable": dict(an.unreliable),
    }


def compare_summary(ce: CompareEvaluation) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "suite": ce.comparison.suite_name,
            "decision": ce.decision, "exit_code": ce.exit_code,
            "gates": gates_json(ce.results), **comparison_json(ce.comparison)}
