"""The ladder verdict: ship the cheapest rung (arm) that clears every gate. Pure functions.

Practitioners climb prompt -> constrained prompt -> RAG -> tune -> tune+RAG only as far as
they need. A suite's `ladder: [arm, ...]` lists the rungs in rung order; its gates are
templates, judged once per rung with the rung as their arm (harness.spec.gates.gate_for_rung:
a gate whose baseline is the rung does not apply to it, "n/a").

Each rung is its own family: its applicable gates are judged exactly as a suite's gates are
(harness.decision.gates: pass on the unadjusted 95% intervals, fail only after Holm's
correction over that rung's checks) and give the rung a verdict (harness.decision.verdict).

The rungs are tried cheapest first: cost per call (the arm's price at its mean observed
tokens) plus, for a tuned rung, training_cost / (calls_per_day x retune_every_days); rung
order breaks ties, and decides alone when any rung's cost is unknown. The first rung that is
not rejected decides: APPROVE (exit 0) if it clears, naming it; INCONCLUSIVE (exit 11) if it
is undecided, since more data could make it the answer; REJECT (exit 10) if every rung fails.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.decision.analysis import Analysis
from harness.decision.compare import Comparison
from harness.decision.cost import ArmCost
from harness.decision.exit_codes import (
    EXIT_APPROVE,
    EXIT_INCONCLUSIVE,
    EXIT_REGRESSION,
    EXIT_REJECT,
)
from harness.decision.gates import (
    FAIL,
    INCONCLUSIVE,
    SKIPPED,
    Check,
    GateResult,
    apply_error_rates,
    describe,
    evaluate_gates,
)
from harness.decision.verdict import APPROVE, REJECT, UNDECIDED, Verdict, decide
from harness.spec.cost import CostConfig
from harness.spec.gates import GateSpec, gate_for_rung

NA = "n/a"  # a gate that does not apply to a rung: neither passes nor fails


@dataclass(frozen=True)
class RungCost:
    per_call: float | None  # the arm's price at its mean tokens; None: no price
    training: float | None  # amortised training per call: 0 for an untuned rung; None: unknown
    tuned: bool = False
    unknown: str | None = None  # why the cost is not known

    @property
    def total(self) -> float | None:
        if self.per_call is None or self.training is None:
            return None
        return self.per_call + self.training


@dataclass(frozen=True)
class RungGate:
    """One of the suite's gates on one rung."""

    index: int  # the gate's position in the suite's `gates`
    status: str  # pass | fail | inconclusive | skipped | n/a
    reason: str
    result: GateResult | None = None  # None when n/a


@dataclass(frozen=True)
class Rung:
    name: str
    position: int  # in the suite's `ladder`
    cost: RungCost
    gates: tuple[RungGate, ...]
    verdict: Verdict  # the rung's own verdict over its applicable gates

    @property
    def outcome(self) -> str:
        return self.verdict.decision

    @property
    def clears(self) -> bool:
        return self.verdict.decision == APPROVE

    def why(self) -> str:
        """The rung's outcome in a few words, with the gate that decided it."""
        failed = [g for g in self.gates if g.status == FAIL]
        unsure = [g for g in self.gates if g.status == INCONCLUSIVE]
        for words, found in (("fails", failed), ("is inconclusive", unsure)):
            if found:
                first = found[0]
                more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
                return f"{words}: {first.result.title} — {first.reason}{more}"
        if self.clears:
            return "clears every gate"
        return "has no gate that applies to it"


@dataclass(frozen=True)
class LadderVerdict(Verdict):
    rung: str | None = None  # the rung to ship (APPROVE)
    by_cost: bool = True  # False: some cost is unknown, rung order alone decided

    @property
    def policy(self) -> str:
        order = ("cheapest first (cost per call plus amortised training; rung order breaks "
                 "ties)" if self.by_cost else "in rung order (a rung's cost is unknown)")
        return (f"the rungs are tried {order}; each rung is judged as its own family: it "
                "clears when each of its checks passes on its own 95% interval, and a check "
                "fails only if it still fails after Holm's correction over that rung's checks "
                "(one-sided 2.5%); the ladder ships the first rung that clears if every rung "
                "before it failed, is INCONCLUSIVE if one before it is undecided, and REJECTs "
                "when none clears; a partial run is never approved or rejected")


@dataclass(frozen=True)
class Ladder:
    rungs: tuple[Rung, ...]  # in rung order
    order: tuple[str, ...]  # the order they were tried in
    gate_titles: tuple[str, ...]  # each suite gate as a sentence about "the rung"
    templates: tuple[GateSpec, ...]
    verdict: LadderVerdict
    cost_note: str | None = None  # why rung order decided, when it did

    @property
    def chosen(self) -> str | None:
        return self.verdict.rung

    @property
    def by_cost(self) -> bool:
        return self.verdict.by_cost

    @property
    def line(self) -> str:
        """The verdict in one line: what to ship and why each rung before it did not clear."""
        reasons = list(self.verdict.reasons)
        return "; ".join([reasons[0][:1].upper() + reasons[0][1:], *reasons[1:]])

    @property
    def results(self) -> list[GateResult]:
        """Every rung's gate results, rung by rung (n/a ones as skipped): for the gates table,
        the JSON and JUnit reports."""
        out = []
        for rung in self.rungs:
            for g in rung.gates:
                if g.result is not None:
                    out.append(g.result)
                    continue
                template = self.templates[g.index].model_copy(update={"arm": None})
                out.append(GateResult(g.index, template,
                                      f"{self.gate_titles[g.index]} (rung {rung.name})", SKIPPED,
                                      (Check(SKIPPED, f"{NA} for rung {rung.name}: {g.reason}"),)))
        return out

    @property
    def gates(self) -> list[GateSpec]:
        """The gates that were judged, with their rung as the arm."""
        return [g.result.gate for r in self.rungs for g in r.gates if g.result is not None]


def amortised_training(cfg: CostConfig | None) -> tuple[float | None, str | None]:
    """Training cost per call: training_cost / (calls_per_day x retune_every_days)."""
    if cfg is None:
        return None, "no `cost` section gives its training cost"
    if cfg.training_cost == 0:
        return 0.0, None
    if not cfg.calls_per_day or not cfg.retune_every_days:
        return None, ("spreading its training cost over calls needs cost.calls_per_day and "
                      "cost.retune_every_days")
    return cfg.training_cost / (cfg.calls_per_day * cfg.retune_every_days), None


def rung_cost(name: str, arm_cost: ArmCost | None, cfg: CostConfig | None) -> RungCost:
    per_call = arm_cost.cost_per_call if arm_cost is not None else None
    tuned = bool(arm_cost and arm_cost.tuned)
    why = [] if per_call is not None else [f"`{name}` has no price (give its engine a "
                                           "`cost`, or the suite a `cost` section)"]
    training: float | None = 0.0
    if tuned:
        training, missing = amortised_training(cfg)
        if missing:
            why.append(f"`{name}` is tuned and {missing}")
    return RungCost(per_call, training, tuned, "; ".join(why) or None)


def judge_rung(position: int, name: str, gates: list[GateSpec], analysis: Analysis,
               comparison: Comparison | None, cost: RungCost, error_rates: dict[str, float],
               max_error_rate: float, partial: str | None) -> Rung:
    """The suite's gates with `name` as their arm, Holm's correction over this rung's checks."""
    applied = [(i, gate_for_rung(g, name)) for i, g in enumerate(gates)]
    specs = [g for _, g in applied if isinstance(g, GateSpec)]
    results = evaluate_gates(specs, analysis, comparison)
    results = apply_error_rates(results, error_rates, max_error_rate, analysis.arms)
    judged = iter(results)
    out = []
    for index, gate in applied:
        if isinstance(gate, str):
            out.append(RungGate(index, NA, gate))
        else:
            r = replace(next(judged), index=index)
            out.append(RungGate(index, r.status, r.reason, r))
    return Rung(name, position, cost, tuple(out), decide(results, partial=partial))


def _cost_key(rung: Rung) -> tuple[float, int]:
    # 12 significant digits: float noise in mean tokens must not break a tie.
    return float(f"{rung.cost.total:.12g}"), rung.position


def climb(rungs: list[Rung], partial: str | None = None) -> tuple[list[Rung], LadderVerdict]:
    """The order the rungs are tried in, and the ladder's verdict."""
    by_cost = all(r.cost.total is not None for r in rungs)
    order = sorted(rungs, key=_cost_key) if by_cost else list(rungs)
    first = "the cheapest rung" if by_cost else "the first rung (in rung order: a cost is unknown)"
    checks = sum(r.verdict.checks for r in rungs)

    def verdict(decision: str, code: int, reasons: list[str], needed: int | None = None,
                chosen: str | None = None) -> LadderVerdict:
        return LadderVerdict(decision, code, tuple(reasons), needed, checks, chosen, by_cost)

    if partial:
        return order, verdict(UNDECIDED, EXIT_INCONCLUSIVE, [
            f"the run is partial ({partial}): no rung is chosen or rejected; run the suite "
            "again to finish it", *(f"`{r.name}` so far {r.why()}" for r in order)])
    deciding = next((r for r in order if r.outcome != REJECT and r.verdict.checks), None)
    before = order[:order.index(deciding)] if deciding else order
    why_not = [f"`{r.name}` {r.why()}" for r in before]
    if deciding is None:
        regression = all(r.verdict.exit_code == EXIT_REGRESSION for r in order)
        return order, verdict(REJECT, EXIT_REGRESSION if regression else EXIT_REJECT,
                              ["no rung clears every gate", *why_not])
    if deciding.clears:
        return order, verdict(APPROVE, EXIT_APPROVE, [
            f"ship `{deciding.name}`: {first} that clears every gate", *why_not],
            chosen=deciding.name)
    later = [r.name for r in order[order.index(deciding) + 1:] if r.clears]
    reasons = [f"`{deciding.name}` {deciding.why()}; it comes before any rung that clears, "
               "so more data could make it the answer", *why_not]
    if later:
        reasons.append(f"`{later[0]}` clears every gate, but `{deciding.name}` comes first")
    return order, verdict(UNDECIDED, EXIT_INCONCLUSIVE, reasons, deciding.verdict.examples_needed)


def template_title(gate: GateSpec, analysis: Analysis | None) -> str:
    """A suite gate as a sentence about "the rung" (each rung in turn)."""
    if gate.name:
        return gate.name
    if gate.type == "vs_baseline_run":
        return describe(gate if gate.arms not in (None, "all") else
                        gate.model_copy(update={"arms": "the rung"}), analysis)
    return describe(gate.model_copy(update={"arm": "the rung"}), analysis)


def evaluate_ladder(rungs: list[str], gates: list[GateSpec], analysis: Analysis,
                    comparison: Comparison | None, costs: list[ArmCost],
                    cost_config: CostConfig | None, *, error_rates: dict[str, float],
                    max_error_rate: float, partial: str | None = None) -> Ladder:
    by_arm = {c.arm: c for c in costs}
    judged = [judge_rung(i, name, gates, analysis, comparison,
                         rung_cost(name, by_arm.get(name), cost_config), error_rates,
                         max_error_rate, partial)
              for i, name in enumerate(rungs)]
    order, verdict = climb(judged, partial)
    unknown = [r.cost.unknown for r in judged if r.cost.total is None and r.cost.unknown]
    titles = tuple(template_title(g, analysis) for g in gates)
    note = "; ".join(unknown) or None
    return Ladder(tuple(judged), tuple(r.name for r in order), titles, tuple(gates), verdict,
                  note)
