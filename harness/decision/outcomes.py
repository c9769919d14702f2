"""Where per-example win / tie / loss outcomes between two arms come from.

Today outcomes come from a scorer's values (`ScoreOutcomes`). A pairwise model judge (a later
issue) plugs in here: anything with `outcomes(arm, baseline, scorer) -> array of +1/0/-1/NaN`
in example order can stand in for `ScoreOutcomes`, and every statistic, gate and report built
on win rates works unchanged.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from harness import stats


class OutcomeSource(Protocol):
    def outcomes(self, arm: str, baseline: str, scorer: str) -> np.ndarray: ...


class ScoreOutcomes:
    """Outcomes from normalised scores (1 = best): a difference within the tie margin is a tie.

    The tie margin is a fraction of the scorer's range and matters only for continuous scorers.
    """

    def __init__(self, scorers: list, normalised: dict[str, dict[str, np.ndarray]],
                 tie_margin: float):
        self._binary = {s.name: s.binary for s in scorers}
        self._values = normalised
        self._tie_margin = tie_margin

    def outcomes(self, arm: str, baseline: str, scorer: str) -> np.ndarray:
        margin = 0.0 if self._binary.get(scorer) else self._tie_margin
        return stats.outcomes(self._values[scorer][arm], self._values[scorer][baseline],
                              tie_margin=margin)
