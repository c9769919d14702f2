"""The console summary printed at the end of a run or compare: rich renderables, built purely."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from harness.decision import text
from harness.decision.analysis import TASKS
from harness.decision.evaluate import CompareEvaluation, Evaluation
from harness.decision.gates import FAIL, INCONCLUSIVE, PASS, SKIPPED, GateResult
from harness.decision.ladder import Ladder

_STYLE = {PASS: "green", FAIL: "bold red", INCONCLUSIVE: "yellow", SKIPPED: "dim"}
_VERDICT_STYLE = {"APPROVE": "bold green", "REJECT": "bold red", "INCONCLUSIVE": "bold yellow",
                  "NO GATES": "bold", "REGRESSION": "bold red", "NO REGRESSION": "bold green"}


def gates_table(results: list[GateResult]) -> Table:
    table = Table(title="Gates", title_justify="left", expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("gate")
    table.add_column("evidence")
    for r in results:
        table.add_row(Text(r.status, style=_STYLE[r.status]), r.title, r.reason)
    return table


def ladder_table(ladder: Ladder, currency: str) -> Table:
    order = "cheapest first" if ladder.by_cost else "in rung order (a cost is unknown)"
    table = Table(title=f"Ladder: rungs tried {order}", title_justify="left", expand=False)
    for col in ("rung", f"cost per call ({currency})", "outcome", "why"):
        table.add_column(col, no_wrap=col != "why")
    for r in ladder.rungs:
        cost = "unknown" if r.cost.total is None else f"{r.cost.total:.4g}"
        style = _VERDICT_STYLE.get(r.outcome, "") if r.name == ladder.chosen else ""
        table.add_row(Text(r.name, style=style), cost,
                      Text(r.outcome, style=_VERDICT_STYLE.get(r.outcome, "")), Text(r.why()))
    return table


def run_summary(ev: Evaluation) -> Group:
    an = ev.analysis
    # Scorers as rows, arms as columns: arms are few, scorer names are long.
    table = Table(title=f"{an.suite_name} · run {an.run_id}", title_justify="left")
    # Cells may wrap (at "±"): on a narrow console (a log file: 80 columns) unbreakable cells
    # squeezed the scorer names out of sight.
    table.add_column("mean ± 95% half-width", style="bold", overflow="fold")
    for arm in an.arms:
        table.add_column(arm, justify="right", overflow="fold")
    for meta in an.scorers:
        scope = an.home_scope(meta.name)
        if scope is None:
            continue
        label = f"{meta.name}{' (primary)' if meta.name == an.primary else ''}"
        if scope != TASKS:
            label += f" · {an.scope(scope).label}"
        cells = []
        for arm in an.arms:
            s = an.arm_scores.get((scope, arm, meta.name))
            cells.append("—" if s is None else f"{text.num(s.interval.estimate, 3)} "
                         f"±{text.num(s.interval.half_width, 3)}")
        table.add_row(label, *cells)
    costs = {c.arm: c for c in ev.costs}
    table.add_section()
    for label, cell in (
            ("tokens in / out", lambda c: f"{text.num(c.prompt_tokens, 0)} / "
                                          f"{text.num(c.completion_tokens, 0)}"),
            ("latency s (mean)", lambda c: text.num(c.latency_mean_s, 3)),
            ("from cache", lambda c: f"{c.cached} of {c.responses}")):
        table.add_row(label, *(cell(costs[a]) if a in costs else "" for a in an.arms))
    parts: list = [table]
    if ev.ladder is not None:
        currency = ev.cost_config.currency if ev.cost_config else ev.run.manifest.currency
        parts.append(ladder_table(ev.ladder, currency))
    elif ev.results:
        parts.append(gates_table(ev.results))
    v = ev.verdict
    line = Text.assemble(("verdict: ", "bold"), (v.decision, _VERDICT_STYLE.get(v.decision, "")),
                         f" (exit code {v.exit_code})")
    parts.append(line)
    if ev.ladder is not None:
        parts.append(Text(f"ladder: {ev.ladder.line}"))
    for why in an.unreliable.values():
        parts.append(Text(f"warning: {why}: gates using it are inconclusive", style="yellow"))
    if ev.completeness.partial:
        parts.append(Text(f"partial run: {ev.completeness.summary}", style="yellow"))
    if v.examples_needed:
        parts.append(Text(f"about {v.examples_needed} examples in all would likely settle it"))
    return Group(*parts)


def compare_summary(ce: CompareEvaluation) -> Group:
    comp = ce.comparison
    table = Table(title=f"{comp.suite_name}: {comp.current_run} against {comp.baseline_run} "
                  f"({comp.n_common} examples)", title_justify="left")
    for col in ("arm", "scorer", "before → now", "change, pts [95%]", "p", "flips ↓/↑"):
        names = col in ("arm", "scorer")
        table.add_column(col, no_wrap=not names, justify="left" if names else "right")
    flips = comp.flip_counts()
    for (golden_set, arm, scorer), d in comp.deltas.items():
        if golden_set is not None:
            continue
        lost, gained = flips.get((arm, scorer), (0, 0))
        iv = d.interval
        style = "red" if iv.high < 0 else "green" if iv.low > 0 else ""
        before_now = f"{text.num(d.baseline_mean, 3)} → {text.num(d.current_mean, 3)}"
        change = f"{iv.estimate * 100:+.1f} [{iv.low * 100:+.1f}, {iv.high * 100:+.1f}]"
        table.add_row(arm, scorer, before_now, Text(change, style=style),
                      text.pvalue(d.test.p_value).removeprefix("p ").removeprefix("= "),
                      f"{lost}/{gained}" if (arm, scorer) in flips else "")
    parts: list = [table]
    parts += [Text(f"note: {n}", style="dim") for n in comp.notes]
    lost_examples = [f for f in comp.flips if not f.to_pass][:10]
    if lost_examples:
        parts.append(Text("pass → fail: " + ", ".join(f"{f.example_id} ({f.arm}/{f.scorer})"
                                                      for f in lost_examples)))
    parts.append(gates_table(ce.results))
    parts.append(Text.assemble(("compare: ", "bold"),
                               (ce.decision, _VERDICT_STYLE.get(ce.decision, "")),
                               f" (exit code {ce.exit_code})"))
    return Group(*parts)
