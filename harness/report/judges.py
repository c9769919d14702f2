"""The report's judges and evaluator-errors sections: plain data for the template, pure.

For each model judge: what it runs on; for a pairwise judge, the win rate of each pair it judged
and how far its preferences can be trusted (position consistency, first-position rate, ties,
agreement with human labels), with a warning when it is below its thresholds. For every scorer
or judge with evaluator errors: how many examples were left out, and whether that made its
gates inconclusive.
"""

from __future__ import annotations

import math
from typing import Any

from harness.decision import text
from harness.decision.analysis import Analysis
from harness.manifest import RunManifest


def _rate(x: float, n: int) -> str:
    return "n/a" if not n or not math.isfinite(x) else f"{x:.2f}"


def judges_section(manifest: RunManifest, an: Analysis) -> dict[str, Any] | None:
    if not manifest.judges:
        return None
    rubric, pairwise, warnings = [], [], []
    for record in manifest.judges:
        engines = ", ".join(f"{e} ({m})" for e, m in zip(record.engines, record.models,
                                                            strict=False)) or "default"
        errors = an.evaluator_errors.get(record.name)
        error_cell = (f"{errors.dropped} of {errors.examples} ({errors.rate:.0%})" if errors
                      else "0")
        if not record.pairwise:
            config = record.config
            scale = config.get("scale") or [1, 5]
            rubric.append({"name": record.name, "engines": engines,
                           "scale": f"{scale[0]}..{scale[1]}",
                           "reference": "yes" if config.get("reference_guided") else "no",
                           "aggregate": config.get("aggregate", "") if len(record.engines) > 1
                           else "—", "errors": error_cell})
            continue
        rel = an.judges.get(record.name)
        if rel is None:
            continue
        pairs = []
        scope = an.judge_scope(record.name)
        for arm, baseline in (tuple(p) for p in record.pairs):
            win = an.win(scope, arm, baseline, record.name) if scope else None
            if win is None:
                pairs.append({"pair": f"{arm} vs {baseline}", "win": "—", "counts": "—"})
                continue
            c = win.counts
            pairs.append({"pair": f"{arm} vs {baseline}", "win": text.interval(win.interval),
                          "counts": f"{c.wins} / {c.ties} / {c.losses}"})
        human = (f"{_rate(rel.human_agreement, rel.human_pairs)} ({rel.human_agree} of "
                 f"{rel.human_pairs})" if rel.human_pairs else "—")
        problems = rel.problems()
        warnings += problems
        pairwise.append({
            "name": record.name, "engines": engines, "pairs": pairs,
            "consistency": f"{_rate(rel.consistency, rel.pairs)} ({rel.consistent} of "
                           f"{rel.pairs})",
            "first": _rate(rel.first_position_rate, rel.first + rel.second),
            "ties": _rate(rel.tie_rate, rel.verdicts), "human": human, "errors": error_cell,
            "min_consistency": text.num(record.min_consistency or 0.0),
            "ok": not problems, "inconsistent": rel.examples})
    return {"rubric": rubric, "pairwise": pairwise, "warnings": warnings}


def evaluator_error_rows(an: Analysis, max_error_rate: float) -> list[dict[str, Any]]:
    return [{"scorer": name, "failed": e.failed, "dropped": e.dropped, "examples": e.examples,
             "rate": f"{e.rate:.0%}", "over": e.rate > max_error_rate,
             "first": e.first}
            for name, e in an.evaluator_errors.items()]
