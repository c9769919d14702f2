"""What a suite's golden sets can settle, before spending a run: pure arithmetic.

For each gate, at the suite's sizes: the smallest effect (or drop) its checks would likely
(80% power) settle, and the number of examples that would settle the bar the gate itself sets.
Before a run nothing is known of the scores, so the per-example standard deviation is assumed
(0.5 of the scorer's range: the worst case of a binary scorer, and about what paired
differences of two binary arms that disagree on a quarter of the examples give; for a threshold
bar b inside 0..1, at most sqrt(b(1 - b))); the report's inconclusive checks add the figure from
the observed spread.

  interval half width at 80% power: (z_0.975 + z_0.8) * sd / sqrt(n)
  examples to settle a margin m:    ((z_0.975 + z_0.8) * sd / m) ** 2
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.spec.gates import GateSpec

Z_LEVEL = 1.959963984540054
Z_POWER = 0.8416212335729143
ASSUMED_SD = 0.5
BEATS_MARGIN = 0.10  # a win rate 10 points above the bar: a clear, worthwhile win
THRESHOLD_MARGIN = 0.05


@dataclass(frozen=True)
class Resolution:
    gate: int
    n: int
    smallest: float  # fraction of the scorer's range (or of the win rate)
    needed: int | None  # examples that would settle the gate's own bar
    sentence: str


def _reach(sd: float, n: int) -> float:
    return (Z_LEVEL + Z_POWER) * sd / math.sqrt(n) if n > 0 else math.inf


def _needed(sd: float, margin: float) -> int | None:
    if margin <= 0:
        return None
    return math.ceil(((Z_LEVEL + Z_POWER) * sd / margin) ** 2)


def resolution(index: int, gate: GateSpec, n: int, sd: float = ASSUMED_SD) -> Resolution:
    """What gate `index` can settle with `n` examples in its scope."""
    reach = _reach(sd, n)
    pts = f"{reach * 100:.1f} points"
    if gate.type == "beats":
        needed = _needed(sd, BEATS_MARGIN)
        confirmed = gate.min_win_rate_lower + reach
        sentence = (f"with {n} examples it confirms a win rate of {confirmed:.2f} or more; a "
                    f"true win rate {BEATS_MARGIN * 100:.0f} points above "
                    f"{gate.min_win_rate_lower:g} needs about {needed} examples")
    elif gate.type == "threshold":
        # A score bounded in 0..1 with mean b has variance at most b(1 - b) (Bhatia-Davis): at
        # a bar of 0.95 that is a standard deviation of 0.22, not 0.5.
        bar = gate.min if gate.min is not None else gate.max
        if bar is not None and 0.0 < bar < 1.0:
            sd = min(sd, math.sqrt(bar * (1.0 - bar)))
            reach = _reach(sd, n)
            pts = f"{reach * 100:.1f} points"
        needed = _needed(sd, THRESHOLD_MARGIN)
        sentence = (f"with {n} examples it confirms a mean {pts} past its bar; a mean "
                    f"{THRESHOLD_MARGIN * 100:.0f} points past it needs about {needed} examples")
    else:
        needed = _needed(sd, gate.drop)
        sentence = (f"with {n} examples it can rule out drops of {pts} or more (between arms "
                    f"that are truly equal); its bar of {gate.drop * 100:g} points needs about "
                    f"{needed} examples")
    return Resolution(index, n, reach, needed, sentence)


def scope_size(gate: GateSpec, sizes: dict[str, int], guards: dict[str, bool]) -> int:
    """Examples in the scope a gate's checks look at (the smallest, for several guard sets)."""
    if gate.golden_set:
        return sizes.get(gate.golden_set, 0)
    if gate.type == "no_regression":
        guard_sizes = [sizes[name] for name, g in guards.items() if g]
        return min(guard_sizes) if guard_sizes else 0
    tasks = [sizes[name] for name, g in guards.items() if not g] or list(sizes.values())
    return sum(tasks)


def suite_resolutions(gates: list[GateSpec], sizes: dict[str, int],
                      guards: dict[str, bool]) -> list[Resolution]:
    return [resolution(i, gate, scope_size(gate, sizes, guards)) for i, gate in enumerate(gates)]
