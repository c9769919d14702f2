"""Can a scorer's or a judge's evidence be trusted? Evaluator errors and judge reliability.

Evaluator errors: a scorer that raised on an example, or a judge whose answer could not be read,
left that example without a value (scores.jsonl / judgements.jsonl `error`). The example is
left out of that scorer for every arm (analysis.raw_values), so comparisons stay paired; when
more than the suite's `max_error_rate` of the scorer's examples are left out, the gates using it
are inconclusive: the examples left could be the easy ones.

Judge reliability (pairwise judges): position consistency, the share of pairs whose two orders
gave the same verdict; the first-position rate, the share of verdicts choosing an answer that
chose the one shown first (0.5 for a judge without position bias); the tie rate; and agreement
with the human labels of the calibration file. Below the judge's `min_consistency` (or
`min_human_agreement`), the report warns and the gates using the judge are inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.store import RunData


@dataclass(frozen=True)
class EvaluatorErrors:
    scorer: str  # a scorer, rubric judge or pairwise judge
    failed: int  # scores (or pairs, for a pairwise judge) with an evaluator error
    dropped: int  # examples left out of the scorer for every arm (of a pair, for a judge)
    examples: int  # examples the scorer was asked about (example x pair, for a judge)
    first: str  # the first error, for the report

    @property
    def rate(self) -> float:
        return self.dropped / self.examples if self.examples else 0.0


@dataclass(frozen=True)
class JudgeReliability:
    judge: str
    pairs: int = 0  # the run's pairs judged in both orders
    consistent: int = 0  # ... whose two orders agree
    verdicts: int = 0  # single verdicts read (two per pair)
    first: int = 0  # verdicts choosing the answer shown first
    second: int = 0  # verdicts choosing the answer shown second
    ties: int = 0
    human_pairs: int = 0  # calibration pairs judged in both orders
    human_agree: int = 0  # ... whose outcome equals the human label
    calibration_errors: int = 0
    min_consistency: float | None = None
    min_human_agreement: float | None = None
    examples: list[str] = field(default_factory=list)  # a few inconsistent pairs, for the report

    @property
    def consistency(self) -> float:
        return self.consistent / self.pairs if self.pairs else math.nan

    @property
    def first_position_rate(self) -> float:
        sides = self.first + self.second
        return self.first / sides if sides else math.nan

    @property
    def tie_rate(self) -> float:
        return self.ties / self.verdicts if self.verdicts else math.nan

    @property
    def human_agreement(self) -> float:
        return self.human_agree / self.human_pairs if self.human_pairs else math.nan

    def problems(self) -> list[str]:
        """Why the judge's preferences are not evidence (empty: they are)."""
        out = []
        if self.min_consistency is not None and self.pairs and (
                self.consistency < self.min_consistency):
            out.append(f"judge {self.judge}: position consistency {self.consistency:.2f} "
                       f"({self.consistent} of {self.pairs} pairs judged alike in both orders) "
                       f"is below its min_consistency {self.min_consistency:g}")
        if self.min_human_agreement is not None:
            if not self.human_pairs:
                out.append(f"judge {self.judge}: no calibration pair was judged, so its "
                           f"agreement with people (min_human_agreement "
                           f"{self.min_human_agreement:g}) is unknown")
            elif self.human_agreement < self.min_human_agreement:
                out.append(f"judge {self.judge}: agreement with the human labels "
                           f"{self.human_agreement:.2f} ({self.human_agree} of "
                           f"{self.human_pairs}) is below its min_human_agreement "
                           f"{self.min_human_agreement:g}")
        return out


def _true(value: object) -> bool:
    return isinstance(value, bool | np.bool_) and bool(value)


def _has_error(frame: pd.DataFrame) -> pd.Series:
    errors = frame["error"]
    return errors.notna() & (errors.astype(str) != "")


def evaluator_errors(run: RunData) -> dict[str, EvaluatorErrors]:
    """Per scorer and judge with at least one evaluator error."""
    out: dict[str, EvaluatorErrors] = {}
    table = run.tables.scores
    failed: dict[str, list[tuple[int, str]]] = {}  # scorer -> (line, error) of each failure
    for (scorer, _, _), found in table.errors.items():
        failed.setdefault(scorer, []).append(found)
    # In the order of each scorer's first failure in scores.jsonl, as groupby(sort=False).
    for scorer in sorted(failed, key=lambda name: min(failed[name])):
        columns = table.of_scorer(scorer)
        dropped = np.logical_or.reduce([c.failed for c in columns])
        examples = np.logical_or.reduce([c.present for c in columns])
        out[scorer] = EvaluatorErrors(scorer, len(failed[scorer]), int(dropped.sum()),
                                      int(examples.sum()), min(failed[scorer])[1])
    judged = run.judgements
    if not judged.empty:
        judged = judged[~judged["calibration"].fillna(False).astype(bool)]
        bad = _has_error(judged)
        for judge, group in judged[bad].groupby("judge", sort=False):
            every = judged[judged["judge"] == judge]
            out[str(judge)] = EvaluatorErrors(str(judge), len(group), len(group), len(every),
                                              str(group["error"].iloc[0]))
    return out


def judge_reliability(run: RunData) -> dict[str, JudgeReliability]:
    """Per pairwise judge of the manifest, from its judgements."""
    out = {}
    judged = run.judgements
    for record in run.manifest.judges:
        if not record.pairwise:
            continue
        rows = judged[judged["judge"] == record.name] if not judged.empty else judged
        counts: dict[str, int] = dict.fromkeys(
            ("pairs", "consistent", "verdicts", "first", "second", "ties", "human_pairs",
             "human_agree", "calibration_errors"), 0)
        examples: list[str] = []
        for row in rows.itertuples(index=False):
            calibration = _true(row.calibration)
            if isinstance(row.error, str) and row.error:
                counts["calibration_errors"] += calibration
                continue
            orders = row.orders if isinstance(row.orders, list) else []
            if len(orders) != 2:  # an arm error: not judged
                continue
            if calibration:
                counts["human_pairs"] += 1
                human = {"A": 1, "B": -1, "tie": 0}.get(str(row.human))
                counts["human_agree"] += int(human is not None and row.outcome == human)
                continue
            counts["pairs"] += 1
            counts["consistent"] += bool(row.consistent)
            if not row.consistent and len(examples) < 5:
                examples.append(f"{row.uid} ({row.arm} vs {row.baseline}): {row.explanation}")
            for order in orders:
                verdict = order.get("verdict")
                counts["verdicts"] += 1
                counts["first"] += verdict == "A"
                counts["second"] += verdict == "B"
                counts["ties"] += verdict == "tie"
        out[record.name] = JudgeReliability(record.name, **counts,
                                            min_consistency=record.min_consistency,
                                            min_human_agreement=record.min_human_agreement,
                                            examples=examples)
    return out


def unreliable_scorers(errors: dict[str, EvaluatorErrors],
                       judges: dict[str, JudgeReliability],
                       max_error_rate: float) -> dict[str, str]:
    """Scorer or judge name -> why gates using it cannot pass or fail."""
    out: dict[str, list[str]] = {}
    for name, e in errors.items():
        if e.rate > max_error_rate:
            out.setdefault(name, []).append(
                f"{name}: evaluator errors left out {e.dropped} of {e.examples} examples "
                f"({e.rate:.0%}, above max_error_rate {max_error_rate:.0%})")
    for name, judge in judges.items():
        out.setdefault(name, []).extend(judge.problems())
    return {name: "; ".join(reasons) for name, reasons in out.items() if reasons}
