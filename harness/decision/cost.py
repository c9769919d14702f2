"""Tokens, seconds and money per arm, and when a tune pays for itself: pure functions.

Each arm has its own price (its engine's, recorded in the manifest): per-call cost = mean
prompt tokens x input price + mean completion tokens x output price (+ mean generation seconds
x price per second). A tuned arm usually needs a shorter prompt than a strong prompt or RAG
and may run on a cheaper model, so it can be cheaper per call; the training cost, spent again
at every re-tune, is paid back after training_cost / (saving per call) calls. Break-even is
computed against the baselines the suite's gates compare the tuned arm with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.manifest import RunManifest
from harness.spec.cost import CostConfig

if TYPE_CHECKING:
    from harness.run_tables import ResponseTable


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
    cost_per_call: float | None  # None for an arm without a price
    model: str = ""
    engine: str = ""
    errors: int = 0  # requests that failed after their retries (arm errors)
    price_in: float | None = None  # per million tokens
    price_out: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.responses if self.responses else 0.0


@dataclass(frozen=True)
class BreakEven:
    tuned_arm: str
    other_arm: str
    saving_per_call: float  # other - tuned; <= 0: the tune never pays back on cost
    calls_to_pay_back: float | None  # per re-tune (None: never)
    calls_per_day_needed: float | None  # with a re-tune cadence
    pays_off: bool | None  # with an expected volume


def arm_costs(responses: ResponseTable, arms: list[str],
              manifest: RunManifest) -> list[ArmCost]:
    """Per arm, from each example's last response (harness.run_tables.ResponseTable)."""
    out = []
    for arm in arms:
        record = manifest.arm(arm)
        cols = responses.arm(arm)
        n = int(cols.present.sum()) if cols is not None else 0

        def column(name: str, cols=cols) -> np.ndarray:
            if cols is None:
                return np.zeros(0)
            values = getattr(cols, name)[cols.present]
            return values.astype(np.float64) if values.dtype.kind == "f" else values

        latency = column("latency_s")
        latency = latency[~np.isnan(latency)]
        p_tok = _mean(column("prompt_tokens"))
        c_tok = _mean(column("completion_tokens"))
        mean_lat = float(latency.mean()) if latency.size else math.nan
        price = record.price if record is not None else None
        per_call = None
        if price is not None and n:
            per_call = price.per_call(p_tok, c_tok, mean_lat if latency.size else 0.0)
        out.append(ArmCost(
            arm, bool(record and record.has_adapter), n, int(column("cached").sum()),
            p_tok, c_tok, mean_lat,
            float(np.percentile(latency, 50)) if latency.size else math.nan,
            float(np.percentile(latency, 95)) if latency.size else math.nan,
            float(latency.sum()), per_call,
            model=record.model if record else "", engine=record.engine if record else "",
            errors=int(column("error").sum()),
            price_in=price.input_per_million_tokens if price else None,
            price_out=price.output_per_million_tokens if price else None))
    return out


def _mean(values: np.ndarray) -> float:
    """Mean of the numbers (NaN where none), as pandas' Series.mean."""
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def break_even(costs: list[ArmCost], cost: CostConfig,
               pairs: list[tuple[str, str]] | None = None) -> list[BreakEven]:
    """For each tuned arm against each baseline (`pairs`: the (tuned, baseline) pairs the gates
    compare; None: every other arm): calls needed to earn the training cost back."""
    by_arm = {c.arm: c for c in costs}
    if pairs is None:
        pairs = [(t.arm, o.arm) for t in costs if t.tuned for o in costs if not o.tuned]
    out = []
    for tuned_arm, other_arm in dict.fromkeys(pairs):
        tuned, other = by_arm.get(tuned_arm), by_arm.get(other_arm)
        if tuned is None or other is None or not tuned.tuned:
            continue
        if tuned.cost_per_call is None or other.cost_per_call is None:
            continue
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
