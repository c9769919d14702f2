"""Where per-example win / tie / loss outcomes between two arms come from.

Outcomes come from a scorer's values (`ScoreOutcomes`) or from a pairwise model judge
(`JudgeOutcomes`): anything with `outcomes(arm, baseline, scorer) -> array of +1/0/-1/NaN` in
example order, so every statistic, gate and report built on win rates works unchanged.
"""

from __future__ import annotations

from typing import Any, Protocol

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


class JudgeOutcomes:
    """Outcomes a pairwise judge gave (judgements.jsonl), in example order.

    `judged[judge][(arm, baseline)]` holds +1 (arm preferred in both orders), 0 (a tie, or the
    orders disagree), -1, or NaN (not judged, or an evaluator error); a pair asked the other way
    round is read negated.
    """

    def __init__(self, size: int, judged: dict[str, dict[tuple[str, str], np.ndarray]],
                 present: dict[str, dict[tuple[str, str], np.ndarray]]):
        self.size = size  # examples
        self._judged = judged
        self._present = present  # a record exists (an evaluator error included)

    def __contains__(self, judge: str) -> bool:
        return judge in self._judged

    def _lookup(self, table: dict, arm: str, baseline: str, judge: str) -> tuple[Any, float]:
        pairs = table.get(judge, {})
        if (arm, baseline) in pairs:
            return pairs[(arm, baseline)], 1.0
        if (baseline, arm) in pairs:
            return pairs[(baseline, arm)], -1.0
        return None, 1.0

    def outcomes(self, arm: str, baseline: str, scorer: str) -> np.ndarray:
        found, sign = self._lookup(self._judged, arm, baseline, scorer)
        if found is None:
            return np.full(self.size, np.nan)
        return sign * found

    def present(self, arm: str, baseline: str, judge: str) -> np.ndarray:
        found, _ = self._lookup(self._present, arm, baseline, judge)
        return np.zeros(self.size, dtype=bool) if found is None else found
