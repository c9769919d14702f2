"""What the markdown report shows, as plain data: a pure function of an Evaluation.

Numbers are formatted here (harness.decision.text) so the template only lays them out.
"""

from __future__ import annotations

import json
import math
from typing import Any

from harness.decision import text
from harness.decision.analysis import TASKS, Analysis
from harness.decision.compare import Comparison, Flip
from harness.decision.evaluate import CompareEvaluation, Evaluation
from harness.decision.gates import FAIL, INCONCLUSIVE, PASS, SKIPPED, GateResult
from harness.report.examples import biggest_differences, clip, headline_pair
from harness.report.judges import evaluator_error_rows, judges_section
from harness.report.plots import Panel, Row
from harness.report.retrieval import retrieval_section
from harness.store import RunData

ICONS = {PASS: "✅", FAIL: "❌", INCONCLUSIVE: "⚠️", SKIPPED: "➖"}
VERDICT_ICONS = {"APPROVE": "✅", "REJECT": "❌", "INCONCLUSIVE": "⚠️", "NO GATES": "ℹ️",
                 "REGRESSION": "❌", "NO REGRESSION": "✅"}
MAX_TAGS = 40
MAX_FLIPS = 30
SIDE_BY_SIDE = 3  # biggest wins and losses shown in full
MAX_RANKED = 25  # further losses in a compact ranked table


def gate_rows(results: list[GateResult]) -> list[dict[str, str]]:
    return [{"icon": ICONS[r.status], "status": r.status, "title": r.title, "reason": r.reason}
            for r in results]


def win_matrix(an: Analysis, scope: str) -> dict[str, Any] | None:
    """Row arm's win rate over column arm, ▲/▼ when the interval clears 0.5."""
    rows = []
    found = False
    for arm in an.arms:
        cells = []
        for other in an.arms:
            win = an.win(scope, arm, other) if arm != other else None
            if win is None:
                cells.append("—")
                continue
            found = True
            iv = win.interval
            mark = " ▲" if iv.low > 0.5 else " ▼" if iv.high < 0.5 else ""
            cells.append(f"{text.interval(iv)}{mark}")
        rows.append({"arm": arm, "cells": cells})
    if not found:
        return None
    return {"scope": an.scope(scope).label, "arms": an.arms, "rows": rows}


def arm_tables(an: Analysis) -> list[dict[str, Any]]:
    tables = []
    for scope in an.scopes:
        scorers = an.scorers_in(scope.name)
        if not scorers:
            continue
        rows = []
        for arm in an.arms:
            cells = []
            for scorer in scorers:
                s = an.arm_scores.get((scope.name, arm, scorer))
                cells.append("—" if s is None else
                             f"{text.interval(s.interval, 3)} (sd {text.num(s.std, 3)}, n {s.n})")
            rows.append({"arm": arm, "cells": cells})
        tables.append({"scope": scope.label, "scorers": scorers, "rows": rows})
    return tables


def diff_rows(an: Analysis, focus: list[str]) -> list[dict[str, str]]:
    """Mean differences of every pair on every scorer, focus arms first in each pair."""
    rows = []
    for key, d in an.diffs.items():
        scope, a, b, scorer = key
        if b in focus and a not in focus:
            d = d.reversed()
        iv = d.interval
        mark = "▲" if iv.low > 0 else "▼" if iv.high < 0 else ""
        rows.append({"scope": an.scope(scope).label, "pair": f"{d.arm} − {d.baseline}",
                     "scorer": scorer, "diff": text.pts_interval(iv), "mark": mark,
                     "test": f"{d.test.name}, {text.pvalue(d.test.p_value)}", "n": str(d.n)})
    return rows


def tag_tables(an: Analysis) -> list[dict[str, Any]]:
    wanted = [an.primary] + [s.name for s in an.scorers
                             if s.name != an.primary and an.home_scope(s.name) != TASKS]
    tables = []
    for scorer in wanted:
        rows = [r for r in an.tags if r.scorer == scorer]
        if not rows:
            continue
        hidden = max(0, len(rows) - MAX_TAGS)
        rows = sorted(rows, key=lambda r: (-r.n, r.tag))[:MAX_TAGS]
        tables.append({"scorer": scorer, "arms": an.arms, "hidden": hidden, "rows": [
            {"tag": r.tag, "n": r.n,
             "cells": [text.num(r.means[a], 3) if a in r.means else "—" for a in an.arms]}
            for r in rows]})
    return tables


def cost_context(ev: Evaluation) -> dict[str, Any]:
    cfg = ev.cost_config
    currency = cfg.currency if cfg else ev.run.manifest.currency
    rows = []
    for c in ev.costs:
        per_call = ("—" if c.cost_per_call is None
                    else f"{c.cost_per_call:.6f} ({c.cost_per_call * 1000:.3f} per 1k calls)")
        price = ("—" if c.price_in is None
                 else f"{c.price_in:g} / {c.price_out:g}")
        rows.append({"arm": c.arm, "model": c.model or "—", "price": price,
                     "responses": c.responses, "cached": c.cached,
                     "errors": f"{c.errors} ({c.error_rate:.0%})" if c.errors else "0",
                     "prompt_tokens": text.num(c.prompt_tokens, 1),
                     "completion_tokens": text.num(c.completion_tokens, 1),
                     "latency": f"{text.num(c.latency_mean_s, 3)} / {text.num(c.latency_p50_s, 3)}"
                                f" / {text.num(c.latency_p95_s, 3)}",
                     "total_s": text.num(c.total_latency_s, 1), "per_call": per_call})
    notes = []
    for b in ev.break_evens:
        if b.calls_to_pay_back is None:
            notes.append(f"{b.tuned_arm} costs {abs(b.saving_per_call):.6f} {currency} more per "
                         f"call than {b.other_arm} (or the same): the tune never pays for "
                         "itself on serving cost alone.")
            continue
        line = (f"{b.tuned_arm} saves {b.saving_per_call:.6f} {currency} per call against "
                f"{b.other_arm}: the training cost ({cfg.training_cost:g} {currency}) is paid "
                f"back after {b.calls_to_pay_back:,.0f} calls")
        if b.calls_per_day_needed is not None:
            line += (f", i.e. {b.calls_per_day_needed:,.0f} calls a day with a re-tune every "
                     f"{cfg.retune_every_days:g} days")
        if b.pays_off is not None and cfg.calls_per_day is not None:
            line += (f"; at the expected {cfg.calls_per_day:,.0f} calls a day it "
                     f"{'pays for itself' if b.pays_off else 'does not pay for itself'}")
        notes.append(line + ".")
    priced = cfg is not None or any(c.cost_per_call is not None for c in ev.costs)
    return {"currency": currency, "rows": rows, "notes": notes, "priced": priced}


def power_rows(ev: Evaluation) -> list[dict[str, Any]]:
    """Per gate: what these golden-set sizes can settle (docs/decision.md, 'Power')."""
    from harness.decision.power import suite_resolutions

    sizes = {g.name: g.n_examples for g in ev.run.manifest.golden_sets}
    guards = {g.name: g.guard for g in ev.run.manifest.golden_sets}
    gates = [r.gate for r in ev.results]
    titles = [r.title for r in ev.results]
    if ev.ladder is not None:  # the same for every rung: once per suite gate
        gates, titles = list(ev.ladder.templates), list(ev.ladder.gate_titles)
    return [{"title": titles[res.gate], "sentence": res.sentence}
            for res in suite_resolutions(gates, sizes, guards)]


def ladder_context(ev: Evaluation) -> dict[str, Any] | None:
    """The Ladder section: the rungs in rung order, their costs, gates and outcomes."""
    ladder = ev.ladder
    if ladder is None:
        return None
    cfg = ev.cost_config
    currency = cfg.currency if cfg else ev.run.manifest.currency

    def money(x: float | None) -> str:
        return "unknown" if x is None else f"{x:.4g}"

    rows = []
    for rung in ladder.rungs:
        c = rung.cost
        rows.append({
            "name": rung.name, "tried": ladder.order.index(rung.name) + 1,
            "per_call": money(c.per_call),
            "training": money(c.training) if c.tuned else "—",
            "total": money(c.total),
            "gates": [f"{ICONS.get(g.status, '➖')} {g.status}" for g in rung.gates],
            "outcome": f"{VERDICT_ICONS.get(rung.outcome, '')} {rung.outcome}",
            "chosen": rung.name == ladder.chosen})
    return {"line": ladder.line, "currency": currency, "rows": rows,
            "gates": [{"label": f"G{i + 1}", "title": t}
                      for i, t in enumerate(ladder.gate_titles)],
            "by_cost": ladder.by_cost, "cost_note": ladder.cost_note, "chosen": ladder.chosen}


def run_info(ev: Evaluation) -> dict[str, Any]:
    m = ev.run.manifest
    return {
        "engines": [{"name": e.name, "kind": e.kind, "model": e.model,
                     "identity": json.dumps(e.identity, sort_keys=True),
                     "pinned": e.pinned} for e in m.engines],
        "golden_sets": [{"name": g.name, "n": g.n_examples, "guard": "yes" if g.guard else "no",
                         "hash": g.hash[:12]} for g in m.golden_sets],
        "arms": [{"name": a.name, "kind": a.kind, "engine": a.engine, "model": a.model or "—",
                  "roles": _roles(a), "detail": _arm_detail(a.detail)} for a in m.arms],
        "scorers": [{"name": s.name, "kind": s.kind,
                     "range": "..".join(f"{v:g}" for v in s.range or [0, 1]),
                     "direction": "higher" if s.higher_is_better else "lower",
                     "binary": "yes" if s.binary else "no",
                     "primary": "yes" if s.name == ev.analysis.primary else ""}
                    for s in m.scorers],
        "suite_hash": m.suite_hash[:12],
        "seed": m.seed, "started_at": m.started_at,
        "finished_at": m.finished_at, "status": m.status,
        "responses": ev.run.tables.responses.rows,
        "cached": ev.run.tables.responses.count("cached"),
        "generated": m.counts.get("generated_responses"),
        "arm_errors": ev.run.tables.responses.count("error"),
        "warnings": list(m.warnings),
        "torn": {name: len(offsets) for name, offsets in ev.run.torn_lines.items()},
        "versions": ", ".join(f"{k} {v}" for k, v in sorted(m.package_versions.items())),
        "n_resamples": ev.analysis.n_resamples,
    }


def _roles(arm: Any) -> str:
    constrained = "constrained decoding"
    kind = _constraint_kind(arm.detail)
    if kind:
        constrained += f" ({kind})"
    roles = [name for name, on in (("adapter", arm.has_adapter), ("retrieval", arm.has_retrieval),
                                   (constrained, arm.constrained)) if on]
    return ", ".join(roles) or "—"


def _constraint_kind(detail: Any) -> str:
    """"json_schema 'name'" or "regex": the arm's own response_format, else that of the arm it
    wraps (`prompt` in a tuned or RAG arm's detail, nested for tuned+RAG)."""
    if not isinstance(detail, dict):
        return ""
    rf = detail.get("response_format")
    if isinstance(rf, dict):
        return f"{rf.get('kind')} '{rf['name']}'" if rf.get("name") else str(rf.get("kind"))
    return _constraint_kind(detail.get("prompt"))


def _arm_detail(arm: dict[str, Any]) -> str:
    adapter = arm.get("adapter")
    if isinstance(adapter, dict):
        return f"adapter {adapter.get('name', '')} ({str(adapter.get('content_hash', ''))[:12]})"
    if arm.get("few_shot") is not None:
        return f"{arm.get('few_shot')} few-shot examples"
    return ""


def forest_panels(ev: Evaluation) -> list[Panel]:
    an = ev.analysis
    focus = an.tuned_arms or an.arms[-1:]
    wins = []
    win_scopes = {k[0] for k in an.wins}
    for scope in an.scopes:
        for arm in focus:
            for other in an.arms:
                win = an.win(scope.name, arm, other) if other != arm else None
                if win is not None:
                    where = f" ({scope.label})" if len(win_scopes) > 1 else ""
                    wins.append(Row(f"{arm} vs {other}{where}", *_iv(win.interval)))
    diffs = []
    for arm in focus:
        for other in (a for a in an.arms if a != arm):
            for meta in an.scorers:
                scope = an.home_scope(meta.name)
                d = an.diff(scope, arm, other, meta.name) if scope else None
                if d is not None:
                    where = f" ({an.scope(scope).label})" if scope != TASKS else ""
                    diffs.append(Row(f"{arm} − {other}: {meta.name}{where}",
                                     *(100 * v for v in _iv(d.interval))))
    return [Panel(f"Win rate on {an.primary} (ties count half), 95% interval",
                  "win rate", tuple(wins), 0.5),
            Panel("Mean difference per scorer, 95% interval", "points (% of the scorer's range)",
                  tuple(diffs), 0.0)]


def _iv(iv) -> tuple[float, float, float]:
    return iv.estimate, iv.low, iv.high


def comparison_context(comp: Comparison, results: list[GateResult], baseline: RunData,
                       current: RunData) -> dict[str, Any]:
    deltas = []
    for (golden_set, arm, scorer), d in comp.deltas.items():
        iv = d.interval
        deltas.append({"scope": golden_set or "all", "arm": arm, "scorer": scorer,
                       "baseline": text.num(d.baseline_mean, 3),
                       "current": text.num(d.current_mean, 3), "delta": text.pts_interval(iv),
                       "mark": "▲" if iv.low > 0 else "▼" if iv.high < 0 else "",
                       "test": f"{d.test.name}, {text.pvalue(d.test.p_value)}", "n": d.n})
    counts = [{"arm": arm, "scorer": scorer, "lost": lost, "gained": gained}
              for (arm, scorer), (lost, gained) in comp.flip_counts().items()]
    shown = comp.flips[:MAX_FLIPS]
    b_text, c_text = _flip_texts(baseline, shown), _flip_texts(current, shown)
    flips = [{"direction": "pass → fail" if not f.to_pass else "fail → pass", "arm": f.arm,
              "scorer": f.scorer, "id": f.example_id, "golden_set": f.golden_set,
              "before": clip(b_text.get((f.arm, f.example_id)), 300),
              "after": clip(c_text.get((f.arm, f.example_id)), 300)}
             for f in shown]
    return {"baseline_run": comp.baseline_run, "current_run": comp.current_run,
            "n_common": comp.n_common, "notes": comp.notes, "deltas": deltas,
            "flip_counts": counts, "flips": flips, "n_flips": len(comp.flips),
            "gates": gate_rows([r for r in results if r.gate.type == "vs_baseline_run"])}


def _flip_texts(run: RunData, flips: list[Flip]) -> dict[tuple[str, str], str]:
    """(arm, uid) -> output of the flips shown: only those lines are read back."""
    positions = run.tables.positions.lookup([f.example_id for f in flips]).tolist()
    texts = run.tables.responses.texts((f.arm, p) for f, p in zip(flips, positions,
                                                                  strict=True))
    return {(f.arm, f.example_id): texts[(f.arm, p)] for f, p in zip(flips, positions,
                                                                      strict=True)
            if (f.arm, p) in texts}


def report_context(ev: Evaluation, plot_link: str,
                   results_link: str | None = None) -> dict[str, Any]:
    an = ev.analysis
    pair = headline_pair(ev.gates, an)
    diffs = None
    if pair and an.primary in an.raw:
        diffs = biggest_differences(an, ev.run, *pair, k=SIDE_BY_SIDE, ranked=MAX_RANKED)
    focus = an.tuned_arms or an.arms[-1:]
    v = ev.verdict
    missing_notes = [f"{w.arm} vs {w.baseline} on {an.scope(scope).label}: {w.n_missing} "
                     f"examples lack a {w.scorer} score for one of the two and were left out"
                     for (scope, *_), w in an.wins.items() if w.n_missing]
    win = an.win(TASKS, *pair) if pair else None
    headline = None
    if win is not None:
        c = win.counts
        headline = (f"{pair[0]} vs {pair[1]} on {an.primary}: win rate "
                    f"{text.interval(win.interval)} ({c.wins} wins, {c.ties} ties, "
                    f"{c.losses} losses of {c.n})")
    return {
        "suite": an.suite_name, "run_id": an.run_id, "headline": headline,
        "description": ev.run.manifest.suite.get("description", ""),
        "partial": ev.completeness.summary,
        "verdict": {"decision": v.decision, "icon": VERDICT_ICONS.get(v.decision, ""),
                    "exit_code": v.exit_code, "reasons": list(v.reasons),
                    "examples_needed": v.examples_needed},
        "gates": gate_rows(ev.results),
        "policy": v.policy if ev.results else None,
        "power": power_rows(ev),
        "primary": an.primary, "tie_margin": an.tie_margin,
        "matrices": [m for s in an.scopes if (m := win_matrix(an, s.name))],
        "plot": plot_link,
        "arm_tables": arm_tables(an), "diffs": diff_rows(an, focus),
        "missing_notes": missing_notes,
        "tags": tag_tables(an), "cost": cost_context(ev),
        "retrieval": retrieval_section(ev.run),
        "judges": judges_section(ev.run.manifest, an),
        "evaluator_errors": evaluator_error_rows(an, ev.run.manifest.max_error_rate),
        "max_error_rate": f"{ev.run.manifest.max_error_rate:.0%}",
        "pair": pair, "wins": diffs.wins if diffs else [],
        "losses": diffs.losses if diffs else [],
        "more_losses": [{"rank": r.rank, "id": r.example_id, "golden_set": r.golden_set,
                         "diff": f"{100 * r.difference:+.0f}",
                         "scores": [text.num(r.values[a], 3) for a in pair[::-1]],
                         "texts": [r.outputs[a] for a in pair[::-1]]}
                        for r in diffs.more_losses] if diffs else [],
        "n_wins": diffs.n_wins if diffs else 0, "n_losses": diffs.n_losses if diffs else 0,
        "results": results_link, "n_examples": int(an.mask(TASKS).sum()),
        "task_sets": an.scope(TASKS).label,
        "info": run_info(ev),
        "ladder": ladder_context(ev),
        "comparison": (comparison_context(ev.comparison, ev.results, ev.baseline, ev.run)
                       if ev.comparison else None),
    }


def compare_context(ce: CompareEvaluation, plot_link: str) -> dict[str, Any]:
    ctx = comparison_context(ce.comparison, ce.results, ce.baseline, ce.current)
    ctx.update(suite=ce.comparison.suite_name, decision=ce.decision, exit_code=ce.exit_code,
               icon=VERDICT_ICONS.get(ce.decision, ""), plot=plot_link,
               reasons=[r.reason for r in ce.results if r.status == FAIL])
    return ctx


def compare_panels(ce: CompareEvaluation) -> list[Panel]:
    drop = max((r.gate.drop for r in ce.results), default=0.0)
    rows = tuple(Row(f"{d.arm}: {d.scorer}" + (f" ({gs})" if gs else ""),
                     *(100 * v for v in _iv(d.interval)))
                 for (gs, _, _), d in ce.comparison.deltas.items()
                 if not any(math.isnan(x) for x in _iv(d.interval)))
    return [Panel("Current − baseline run, 95% interval", "points (% of the scorer's range)",
                  rows, 0.0, -100 * drop)]
