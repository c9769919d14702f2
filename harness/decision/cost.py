"""Tokens, seconds and money per arm, and when a tune pays for itself: pure functions.

Per-call cost = mean prompt tokens x input price + mean completion tokens x output price
(+ mean generation seconds x price per second). A tuned arm usually needs a shorter prompt than
a strong prompt or RAG, so it can be cheaper per call; the training cost, spent again at every
re-tune, is paid back after training_cost / (saving per call) calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.decision.config import CostConfig


@dataclass(frozen=True)
class ArmCost:
    arm: str
    tuned: bool
    responses: int
    cached: int
    prompt_tokens: float  # means per call
    completion_tokens: float
    latency_mean_s: float
    latency_p50_s: float
    latency_p95_s: float
    total_latency_s: float
    cost_per_call: float | None  # None without a cost section


@dataclass(frozen=True)
class BreakEven:
    tuned_arm: str
    other_arm: str
    saving_per_call: float  # other - tuned; <= 0: the tune never pays back on cost
    calls_to_pay_back: float | None  # per re-tune (None: never)
    calls_per_day_needed: float | None  # with a re-tune cadence
    pays_off: bool | None  # with an expected volume


def arm_costs(responses: pd.DataFrame, arms: list[str], tuned_arms: list[str],
              cost: CostConfig | None) -> list[ArmCost]:
    out = []
    for arm in arms:
        rows = responses[responses["arm"] == arm]
        latency = pd.to_numeric(rows["latency_s"], errors="coerce").dropna().to_numpy()
        p_tok = float(pd.to_numeric(rows["prompt_tokens"], errors="coerce").mean())
        c_tok = float(pd.to_numeric(rows["completion_tokens"], errors="coerce").mean())
        mean_lat = float(latency.mean()) if latency.size else math.nan
        per_call = None
        if cost is not None and len(rows):
            price_in, price_out = cost.prices(arm in tuned_arms)
            per_call = (p_tok * price_in + c_tok * price_out) / 1e6
            if cost.per_generation_second and latency.size:
                per_call += mean_lat * cost.per_generation_second
        out.append(ArmCost(
            arm, arm in tuned_arms, len(rows), int(rows["cached"].fillna(False).astype(bool).sum()),
            p_tok, c_tok, mean_lat,
            float(np.percentile(latency, 50)) if latency.size else math.nan,
            float(np.percentile(latency, 95)) if latency.size else math.nan,
            float(latency.sum()), per_call))
    return out


def break_even(costs: list[ArmCost], cost: CostConfig) -> list[BreakEven]:
    """For each tuned arm against each other arm: calls needed to earn the training cost back."""
    out = []
    for tuned in (c for c in costs if c.tuned and c.cost_per_call is not None):
        for other in (c for c in costs if not c.tuned and c.cost_per_call is not None):
            saving = other.cost_per_call - tuned.cost_per_call
            calls = per_day = None
            pays = None
            if saving > 0:
                calls = cost.training_cost / saving
                if cost.retune_every_days:
                    per_day = calls / cost.retune_every_days
                    if cost.calls_per_day is not None:
                        pays = cost.calls_per_day >= per_day
                elif cost.calls_per_day is not None:
                    pays = True  # a one-off tune pays back after calls / calls_per_day days
            elif cost.calls_per_day is not None:
                pays = cost.training_cost == 0 and saving == 0
            out.append(BreakEven(tuned.arm, other.arm, saving, calls, per_day, pays))
    return out
