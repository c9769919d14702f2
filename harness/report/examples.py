"""Which examples a reader should see: the biggest wins and losses of the headline pair."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.decision.analysis import TASKS, Analysis
from harness.spec.gates import GateSpec, names_of
from harness.store import RunData

MAX_TEXT = 600
SHORT_TEXT = 120  # outputs in the ranked table


@dataclass(frozen=True)
class SideBySide:
    example_id: str
    golden_set: str
    tags: tuple[str, ...]
    won_by: str  # the arm whose output was better
    prompt: str
    reference: str
    outputs: dict[str, str]  # arm -> output text
    scores: dict[str, dict[str, float]]  # scorer -> arm -> raw value


def headline_pair(gates: list[GateSpec], an: Analysis) -> tuple[str, str] | None:
    """The pair the decision is about: the first beats gate, else a tuned arm vs another arm."""
    for gate in gates:
        if gate.type == "beats" and gate.arm:
            baselines = names_of(gate.baseline) or [a for a in an.arms if a != gate.arm]
            if baselines:
                return gate.arm, baselines[0]
    others = [a for a in an.arms if a not in an.tuned_arms]
    if an.tuned_arms and others:
        return an.tuned_arms[0], others[0]
    return (an.arms[-1], an.arms[0]) if len(an.arms) > 1 else None


def clip(text: object, limit: int = MAX_TEXT) -> str:
    s = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    return s if len(s) <= limit else s[:limit].rstrip() + " …"


@dataclass(frozen=True)
class RankedRow:
    """One line of the ranked table of further losses: numbers and short outputs only."""

    rank: int
    example_id: str
    golden_set: str
    difference: float  # arm - baseline on the primary scorer, fraction of its range
    values: dict[str, float]  # arm -> raw primary value
    outputs: dict[str, str]  # arm -> output, clipped short


@dataclass(frozen=True)
class Differences:
    """The examples a reader should see, ranked, and how many were left out."""

    wins: list[SideBySide]
    losses: list[SideBySide]
    more_losses: list[RankedRow]  # ranked after `losses`, in a compact table
    n_wins: int  # in all
    n_losses: int


def ranked_differences(an: Analysis, arm: str, baseline: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions where `arm` beat `baseline` on the primary scorer, biggest first, and where it
    lost, biggest loss first; ties on the primary are broken by the other scorers'
    differences."""
    primary = an.scorer(an.primary)
    in_scope = an.mask(TASKS)
    d = primary.normalise(an.raw[primary.name][arm]) - primary.normalise(
        an.raw[primary.name][baseline])
    others = np.zeros_like(d)
    for meta in an.scorers:
        if meta.name != primary.name:
            other = meta.normalise(an.raw[meta.name][arm]) - meta.normalise(
                an.raw[meta.name][baseline])
            others += np.nan_to_num(other)
    margin = 0.0 if primary.binary else an.tie_margin
    usable = in_scope & ~np.isnan(d)
    key = d + 1e-3 * others  # the primary decides; the others only order equal differences
    order = np.argsort(-key, kind="stable")
    wins = order[(usable & (d > margin + 1e-12))[order]]
    order = np.argsort(key, kind="stable")
    losses = order[(usable & (d < -margin - 1e-12))[order]]
    return wins, losses


def biggest_differences(an: Analysis, run: RunData, arm: str, baseline: str, k: int = 3,
                        ranked: int = 0) -> Differences:
    """Up to k examples where `arm` beat `baseline` by most on the primary scorer, and k where
    it lost by most, side by side; then up to `ranked` further losses in a compact table. Only
    the examples shown are read back from the run directory."""
    wins, losses = ranked_differences(an, arm, baseline)
    shown = [*wins[:k], *losses[:k + ranked]]
    tables = run.tables
    # Positions in the analysis are the run's example positions (RunData.tables).
    positions = tables.positions.lookup(an.example_ids[shown]) if shown else np.zeros(0, int)
    pos_of = dict(zip((int(i) for i in shown), positions.tolist(), strict=True))
    examples = dict(zip(positions.tolist(), tables.examples.records(positions), strict=True))
    texts = tables.responses.texts((a, p) for p in positions.tolist() for a in (baseline, arm))
    primary = an.scorer(an.primary)

    def build(i: int, winner: str) -> SideBySide:
        pos = pos_of[int(i)]
        row = examples[pos]
        tags = row.get("tags") if isinstance(row.get("tags"), list | tuple) else []
        return SideBySide(
            str(row.get("uid")), str(row.get("golden_set", "")), tuple(str(t) for t in tags),
            winner, clip(row.get("prompt")), clip(row.get("reference")),
            {a: clip(texts.get((a, pos), "")) for a in (baseline, arm)},
            {m.name: {a: float(an.raw[m.name][a][i]) for a in (baseline, arm)}
             for m in an.scorers if not np.isnan(an.raw[m.name][arm][i])})

    def row(rank: int, i: int) -> RankedRow:
        pos = pos_of[int(i)]
        values = {a: float(an.raw[primary.name][a][i]) for a in (baseline, arm)}
        diff = float(primary.normalise(values[arm]) - primary.normalise(values[baseline]))
        return RankedRow(rank, str(an.example_ids[i]), str(an.golden_set_of[i]), diff, values,
                         {a: clip(texts.get((a, pos), ""), SHORT_TEXT) for a in (baseline, arm)})

    return Differences(
        [build(i, arm) for i in wins[:k]], [build(i, baseline) for i in losses[:k]],
        [row(k + 1 + j, i) for j, i in enumerate(losses[k:k + ranked])],
        int(wins.size), int(losses.size))
