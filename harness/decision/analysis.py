"""Every comparison of a run's arms, computed at once from a RunData: a pure function.

The run is cut into scopes: "tasks" (the non-guard golden sets together) and each golden set on
its own. In each scope, for every arm and scorer a mean with its interval, and for every pair of
arms a win rate on the primary scorer (plus any scorer a beats gate names) and a mean
difference for every scorer. All intervals come from one paired bootstrap (harness.stats), so
they share resamples and cost one matrix product.

Differences are on a common scale: the fraction of the scorer's range, signed so that positive
means the first arm is better (a lower-is-better scorer is flipped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from harness import stats
from harness.decision.outcomes import JudgeOutcomes, ScoreOutcomes
from harness.decision.reliability import (
    EvaluatorErrors,
    JudgeReliability,
    evaluator_errors,
    judge_reliability,
    unreliable_scorers,
)
from harness.manifest import ScorerRecord
from harness.store import RunData

TASKS = "@tasks"  # the non-guard golden sets together; "@" keeps it apart from set names


@dataclass(frozen=True)
class ScorerMeta:
    name: str
    low: float = 0.0
    high: float = 1.0
    higher_is_better: bool = True
    binary: bool = False
    kind: str = ""

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """Fraction of the range, 1 = best (`raw` itself when it is that already: no copy of
        a column per arm and scorer at 100,000 examples)."""
        if self.low == 0.0 and self.high == 1.0 and self.higher_is_better:
            return np.asarray(raw, dtype=float)
        frac = (np.asarray(raw, dtype=float) - self.low) / (self.high - self.low)
        return frac if self.higher_is_better else 1.0 - frac

    @classmethod
    def from_manifest(cls, entry: ScorerRecord) -> ScorerMeta:
        low, high = (entry.range or [0.0, 1.0])[:2]
        return cls(entry.name, float(low), float(high), entry.higher_is_better, entry.binary,
                   entry.kind or entry.name)


@dataclass(frozen=True)
class Scope:
    name: str  # TASKS or a golden set name
    golden_sets: tuple[str, ...]
    guard: bool

    @property
    def label(self) -> str:
        names = ", ".join(self.golden_sets)
        if self.name == TASKS and len(self.golden_sets) > 1:
            return f"task sets ({names})"
        return f"{names} (guard set)" if self.guard else names


@dataclass(frozen=True)
class ArmScore:
    arm: str
    scorer: str
    n: int
    interval: stats.Interval  # raw units of the scorer
    std: float


@dataclass(frozen=True)
class PairWin:
    arm: str
    baseline: str
    scorer: str
    counts: stats.WinCounts
    interval: stats.Interval  # win rate of `arm` over `baseline`
    test: stats.TestResult  # sign test on wins vs losses
    n_missing: int  # examples in scope where one of the two has no score

    def reversed(self) -> PairWin:
        c = self.counts
        iv = self.interval
        return PairWin(self.baseline, self.arm, self.scorer, stats.WinCounts(c.losses, c.ties,
                       c.wins), stats.Interval(1 - iv.estimate, 1 - iv.high, 1 - iv.low,
                                               iv.level), self.test, self.n_missing)


@dataclass(frozen=True)
class PairDiff:
    arm: str
    baseline: str
    scorer: str
    n: int
    interval: stats.Interval  # mean of arm - baseline, fraction of range, + = arm better
    test: stats.TestResult

    def reversed(self) -> PairDiff:
        iv = self.interval
        return PairDiff(self.baseline, self.arm, self.scorer, self.n,
                        stats.Interval(-iv.estimate, -iv.high, -iv.low, iv.level), self.test)


@dataclass
class Analysis:
    run_id: str
    suite_name: str
    arms: list[str]
    tuned_arms: list[str]
    scorers: list[ScorerMeta]
    primary: str
    tie_margin: float
    scopes: list[Scope]
    example_ids: np.ndarray
    golden_set_of: np.ndarray  # per example
    raw: dict[str, dict[str, np.ndarray]]  # scorer -> arm -> raw values (NaN = missing)
    arm_scores: dict[tuple[str, str, str], ArmScore] = field(default_factory=dict)
    wins: dict[tuple[str, str, str, str], PairWin] = field(default_factory=dict)
    diffs: dict[tuple[str, str, str, str], PairDiff] = field(default_factory=dict)
    tags: list[TagRow] = field(default_factory=list)
    n_resamples: int = stats.DEFAULT_RESAMPLES
    # Pairwise judges: outcomes per pair of arms instead of values per arm.
    preferences: JudgeOutcomes | None = None
    evaluator_errors: dict[str, EvaluatorErrors] = field(default_factory=dict)
    judges: dict[str, JudgeReliability] = field(default_factory=dict)
    # Scorer or judge -> why gates using it are inconclusive (evaluator errors, a judge below
    # its consistency threshold).
    unreliable: dict[str, str] = field(default_factory=dict)

    def scorer(self, name: str) -> ScorerMeta:
        return next(s for s in self.scorers if s.name == name)

    def scope(self, name: str) -> Scope:
        return next(s for s in self.scopes if s.name == name)

    def scope_for(self, golden_set: str | None) -> str:
        """The scope a gate's `golden_set` means (None: the task sets)."""
        if golden_set is None:
            return TASKS
        tasks = self.scope(TASKS)
        return TASKS if tasks.golden_sets == (golden_set,) else golden_set

    def guard_scopes(self) -> list[Scope]:
        return [s for s in self.scopes if s.guard and s.name != TASKS]

    def win(self, scope: str, arm: str, baseline: str, scorer: str | None = None) -> PairWin | None:
        scorer = scorer or self.primary
        if (scope, arm, baseline, scorer) in self.wins:
            return self.wins[(scope, arm, baseline, scorer)]
        found = self.wins.get((scope, baseline, arm, scorer))
        return found.reversed() if found else None

    def diff(self, scope: str, arm: str, baseline: str, scorer: str) -> PairDiff | None:
        if (scope, arm, baseline, scorer) in self.diffs:
            return self.diffs[(scope, arm, baseline, scorer)]
        found = self.diffs.get((scope, baseline, arm, scorer))
        return found.reversed() if found else None

    def scorers_in(self, scope: str) -> list[str]:
        """Scorers with at least one value in a scope (scorers can be limited to golden sets)."""
        return [s.name for s in self.scorers
                if any((scope, a, s.name) in self.arm_scores for a in self.arms)]

    def home_scope(self, scorer: str) -> str | None:
        """Where a scorer is best summarised: the task sets, else the first scope it scored."""
        for scope in self.scopes:
            if any((scope.name, a, scorer) in self.arm_scores for a in self.arms):
                return scope.name
        return None

    def judge_scope(self, judge: str) -> str | None:
        """Where a pairwise judge's win rates are summarised: the first scope it judged."""
        for scope in self.scopes:
            if any(k[0] == scope.name and k[3] == judge for k in self.wins):
                return scope.name
        return None

    def mask(self, scope: str) -> np.ndarray:
        return np.isin(self.golden_set_of, self.scope(scope).golden_sets)


@dataclass(frozen=True)
class TagRow:
    tag: str
    scorer: str
    n: int
    means: dict[str, float]  # arm -> mean raw value


def scorer_metas(run: RunData) -> list[ScorerMeta]:
    listed = [ScorerMeta.from_manifest(s) for s in run.manifest.scorers]
    known = {s.name for s in listed}
    # A scorer in scores.jsonl but not the manifest still counts, read on a 0..1 scale.
    extra = [ScorerMeta(n) for n in run.tables.scores.scorers if n not in known]
    return listed + extra


def arm_names(run: RunData) -> list[str]:
    listed = run.manifest.arm_names
    seen = set(run.tables.scores.arms) | set(run.tables.responses.arms)
    return [a for a in listed if a in seen] + sorted(str(a) for a in seen if a not in listed)


def golden_set_guards(run: RunData) -> dict[str, bool]:
    """Golden set name -> guard flag, from the manifest (set order kept)."""
    guards = {g.name: g.guard for g in run.manifest.golden_sets}
    for name in run.tables.examples.golden_set_names:
        guards.setdefault(name, False)
    return guards


def build_scopes(guards: dict[str, bool]) -> list[Scope]:
    task_sets = tuple(n for n, g in guards.items() if not g) or tuple(guards)
    scopes = [Scope(TASKS, task_sets, all(guards[n] for n in task_sets))]
    # A set that is the whole task scope on its own would only repeat it.
    scopes += [Scope(n, (n,), g) for n, g in guards.items() if (n,) != task_sets]
    return scopes


def raw_values(run: RunData, ids: np.ndarray, arms: list[str],
               scorers: list[ScorerMeta]) -> dict[str, dict[str, np.ndarray]]:
    """scorer -> arm -> value per example (NaN = missing). An example with an evaluator error
    on any arm is NaN for every arm of that scorer: comparisons stay paired."""
    table = run.tables.scores
    positions = run.tables.positions.lookup(ids)
    known = positions >= 0
    at = np.where(known, positions, 0)
    out: dict[str, dict[str, np.ndarray]] = {}
    for meta in scorers:
        dropped = np.zeros(len(ids), dtype=bool)
        for cols in table.of_scorer(meta.name):
            dropped |= known & cols.failed[at]
        values = {}
        for arm in arms:
            cols = table.column(meta.name, arm)
            if cols is None:
                values[arm] = np.full(len(ids), np.nan)
                continue
            values[arm] = np.where(known & ~dropped & cols.present[at], cols.value[at], np.nan)
        out[meta.name] = values
    return out


def preference_outcomes(run: RunData, ids: np.ndarray) -> JudgeOutcomes:
    """Every pairwise judge's outcomes per (arm, baseline), in example order."""
    judged: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    present: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    names = [j.name for j in run.manifest.judges if j.pairwise]
    rows = run.judgements
    if not rows.empty:
        rows = rows[~rows["calibration"].fillna(False).astype(bool)]
    position = {uid: i for i, uid in enumerate(ids)}
    for name in names:
        judged[name], present[name] = {}, {}
        mine = rows[rows["judge"] == name] if not rows.empty else rows
        for (arm, baseline), group in mine.groupby(["arm", "baseline"], sort=False):
            values = np.full(len(ids), np.nan)
            seen = np.zeros(len(ids), dtype=bool)
            for uid, outcome in zip(group["uid"].astype(str), group["outcome"], strict=True):
                i = position.get(uid)
                if i is None:
                    continue
                seen[i] = True
                if outcome is not None and not pd.isna(outcome):
                    values[i] = float(outcome)
            judged[name][(str(arm), str(baseline))] = values
            present[name][(str(arm), str(baseline))] = seen
    return JudgeOutcomes(len(ids), judged, present)


def analyse(run: RunData, *, win_scorers: tuple[str, ...] = (),
            n_resamples: int = stats.DEFAULT_RESAMPLES, seed: int = 0) -> Analysis:
    """All arm scores, win rates and differences of a run, with intervals and tests."""
    examples = run.tables.examples
    ids = examples.uids
    golden_set_of = examples.golden_sets
    n_resamples = stats.resamples_for(len(ids), n_resamples)  # a cost flat in the examples
    arms = arm_names(run)
    scorers = scorer_metas(run)
    primary = run.manifest.primary_scorer or (scorers[0].name if scorers else "")
    tie_margin = float(run.manifest.suite.get("tie_margin") or 0.0)
    tuned = run.manifest.adapter_arms
    analysis = Analysis(
        run_id=run.manifest.run_id or run.run_dir.name,
        suite_name=run.manifest.suite_name, arms=arms,
        tuned_arms=[a for a in tuned if a in arms], scorers=scorers, primary=primary,
        tie_margin=tie_margin, scopes=build_scopes(golden_set_guards(run)), example_ids=ids,
        golden_set_of=golden_set_of, raw=raw_values(run, ids, arms, scorers),
        n_resamples=n_resamples, preferences=preference_outcomes(run, ids),
        evaluator_errors=evaluator_errors(run), judges=judge_reliability(run))
    analysis.unreliable = unreliable_scorers(analysis.evaluator_errors, analysis.judges,
                                             run.manifest.max_error_rate)
    pairwise = tuple(j.name for j in run.manifest.judges if j.pairwise)
    _fill_statistics(analysis, tuple(dict.fromkeys((primary, *win_scorers, *pairwise))), seed)
    analysis.tags = tag_rows(examples.tags, analysis)
    return analysis


def _fill_statistics(an: Analysis, win_scorers: tuple[str, ...], seed: int) -> None:
    jobs: list[tuple[str, tuple, Any]] = []  # (kind, key, what else it needs) per column
    norm = {s.name: {a: s.normalise(v) for a, v in an.raw[s.name].items()} for s in an.scorers}
    comparer = ScoreOutcomes(an.scorers, norm, an.tie_margin)
    judges = an.preferences
    pairs = list(combinations(an.arms, 2))
    # Each column goes into the bootstrap as it is made and is not kept: what else its
    # statistic needs (spread, counts, the paired test) is computed on the spot.
    most = len(an.scopes) * (len(an.scorers) * len(an.arms)
                             + len(pairs) * (len(win_scorers) + len(an.scorers)))
    boot = stats.PairedBootstrap(an.example_ids.size, most)
    for scope in an.scopes:
        in_scope = an.mask(scope.name)
        for meta in an.scorers:
            for arm in an.arms:
                col = np.where(in_scope, an.raw[meta.name][arm], np.nan)
                values = col[~np.isnan(col)]
                if values.size:
                    boot.add(col)
                    std = float(values.std(ddof=1)) if values.size > 1 else math.nan
                    jobs.append(("arm", (scope.name, arm, meta.name), (int(values.size), std)))
        for a, b in pairs:
            for scorer in win_scorers:
                if judges is not None and scorer in judges:
                    outcome = np.where(in_scope, judges.outcomes(a, b, scorer), np.nan)
                    n_any = int(np.sum(in_scope & judges.present(a, b, scorer)))
                elif scorer in norm:
                    outcome = np.where(in_scope, comparer.outcomes(a, b, scorer), np.nan)
                    n_any = int(np.sum(in_scope & (~np.isnan(norm[scorer][a])
                                                   | ~np.isnan(norm[scorer][b]))))
                else:
                    continue
                if np.isnan(outcome).all():
                    continue
                boot.add(stats.win_points(outcome))
                jobs.append(("win", (scope.name, a, b, scorer),
                             (stats.win_counts(outcome), n_any)))
            for meta in an.scorers:
                d = np.where(in_scope, norm[meta.name][a] - norm[meta.name][b], np.nan)
                keep = ~np.isnan(d)
                if not keep.any():
                    continue
                boot.add(d)
                test = stats.paired_test(norm[meta.name][a][keep], norm[meta.name][b][keep],
                                         binary=meta.binary)
                jobs.append(("diff", (scope.name, a, b, meta.name), (int(keep.sum()), test)))
    if not jobs:
        return
    intervals = boot.intervals(n_resamples=an.n_resamples, seed=seed)
    for (kind, key, extra), interval in zip(jobs, intervals, strict=True):
        if kind == "arm":
            n, std = extra
            an.arm_scores[key] = ArmScore(key[1], key[2], n, interval, std)
        elif kind == "win":
            counts, n_any = extra
            an.wins[key] = PairWin(key[1], key[2], key[3], counts, interval,
                                   stats.sign_test(counts.wins, counts.losses),
                                   n_any - counts.n)
        else:
            scope, a, b, scorer = key
            n, test = extra
            an.diffs[key] = PairDiff(a, b, scorer, n, interval, test)


def tag_rows(tags: dict[str, np.ndarray], an: Analysis) -> list[TagRow]:
    """Mean of each scorer per arm for every tag (tag -> positions of the examples having it,
    harness.run_tables.ExampleTable.tags), tags in sorted order."""
    rows: list[TagRow] = []
    for tag in sorted(tags):
        pos = tags[tag]
        for meta in an.scorers:
            means = {}
            n = 0
            for arm in an.arms:
                values = an.raw[meta.name][arm][pos]
                values = values[~np.isnan(values)]
                if values.size:
                    means[arm] = float(values.mean())
                    n = max(n, int(values.size))
            if means:
                rows.append(TagRow(str(tag), meta.name, n, means))
    return rows
