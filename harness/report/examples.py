"""Which examples a reader should see: the biggest wins and losses of the headline pair."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.decision.analysis import TASKS, Analysis
from harness.spec.gates import GateSpec, names_of

MAX_TEXT = 600


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


def biggest_differences(an: Analysis, examples: pd.DataFrame, responses: pd.DataFrame,
                        arm: str, baseline: str, k: int = 3) -> tuple[list[SideBySide],
                                                                       list[SideBySide]]:
    """Up to k examples where `arm` beat `baseline` by most on the primary scorer, and k where
    it lost by most; ties on the primary are broken by the other scorers' differences."""
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
    wins = [i for i in np.argsort(-key, kind="stable") if usable[i] and d[i] > margin + 1e-12]
    losses = [i for i in np.argsort(key, kind="stable") if usable[i] and d[i] < -margin - 1e-12]
    by_id = examples.drop_duplicates("uid").set_index(examples.drop_duplicates("uid")["uid"]
                                                      .astype(str))
    texts = responses.set_index(["arm", "uid"])["text"].to_dict()

    def build(i: int, winner: str) -> SideBySide:
        ex_id = str(an.example_ids[i])
        row = by_id.loc[ex_id]
        tags = row["tags"] if isinstance(row["tags"], list | tuple) else []
        return SideBySide(
            ex_id, str(row["golden_set"]), tuple(str(t) for t in tags), winner,
            clip(row["prompt"]), clip(row["reference"]),
            {a: clip(texts.get((a, ex_id), "")) for a in (baseline, arm)},
            {m.name: {a: float(an.raw[m.name][a][i]) for a in (baseline, arm)}
             for m in an.scorers if not np.isnan(an.raw[m.name][arm][i])})

    return ([build(i, arm) for i in wins[:k]], [build(i, baseline) for i in losses[:k]])
