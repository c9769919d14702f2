"""Regression compare: the same suite run twice (before and after a re-tune), example by example.

Examples are matched by id. Runs of different suites are refused, and so are runs whose golden
sets differ (by content hash) unless the caller asks to compare the ids both runs share. For
every arm and scorer both runs have: the mean change with a paired interval and test, and the
examples that flipped between pass and fail (binary scorers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness import stats
from harness.decision.analysis import ScorerMeta, arm_names, raw_values, scorer_metas
from harness.errors import RunError
from harness.store import RunData


@dataclass(frozen=True)
class Delta:
    arm: str
    scorer: str
    golden_set: str | None  # None: all common examples
    n: int
    baseline_mean: float  # raw units
    current_mean: float
    interval: stats.Interval  # current - baseline, fraction of range, + = better
    test: stats.TestResult


@dataclass(frozen=True)
class Flip:
    arm: str
    scorer: str
    example_id: str
    golden_set: str
    to_pass: bool  # False: pass -> fail (the kind that hurts)
    baseline_value: float
    current_value: float


@dataclass
class Comparison:
    suite_name: str
    baseline_run: str
    current_run: str
    example_ids: np.ndarray
    golden_set_of: np.ndarray
    arms: list[str]
    scorers: list[ScorerMeta]
    n_baseline: int
    n_current: int
    common_ids_only: bool
    notes: list[str] = field(default_factory=list)
    deltas: dict[tuple[str | None, str, str], Delta] = field(default_factory=dict)
    flips: list[Flip] = field(default_factory=list)

    @property
    def n_common(self) -> int:
        return int(self.example_ids.size)

    def flip_counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(arm, scorer) -> (pass->fail, fail->pass)."""
        out: dict[tuple[str, str], tuple[int, int]] = {}
        for f in self.flips:
            lost, gained = out.get((f.arm, f.scorer), (0, 0))
            out[(f.arm, f.scorer)] = (lost + (not f.to_pass), gained + f.to_pass)
        return out


def matched_ids(baseline: RunData, current: RunData, *, common_ids: bool) -> tuple[
        np.ndarray, list[str]]:
    """Example ids both runs share, after refusing runs that are not comparable."""
    b_suite = baseline.manifest.suite_name
    c_suite = current.manifest.suite_name
    if b_suite != c_suite:
        raise RunError(f"{current.run_dir}: runs of different suites ('{b_suite}' in "
                       f"{baseline.run_dir}, '{c_suite}' here) cannot be compared")
    b_ids = set(baseline.tables.examples.uids.tolist())
    c_ids = set(current.tables.examples.uids.tolist())
    common = [i for i in current.tables.examples.uids.tolist() if i in b_ids]
    notes: list[str] = []
    b_sets = {g.name: g.hash for g in baseline.manifest.golden_sets}
    c_sets = {g.name: g.hash for g in current.manifest.golden_sets}
    differing = sorted(n for n in set(b_sets) | set(c_sets) if b_sets.get(n) != c_sets.get(n))
    if differing and not common_ids:
        name = differing[0]
        how = ("is only in one run" if name not in b_sets or name not in c_sets else
               f"has different content (hash {str(b_sets[name])[:12]} vs "
               f"{str(c_sets[name])[:12]})")
        raise RunError(f"golden set '{name}' {how}, so the runs are not comparable as a whole; "
                       f"pass --common-ids to compare the {len(common)} examples both share")
    if differing:
        notes.append(f"golden sets differ ({', '.join(differing)}): compared only the "
                     f"{len(common)} example ids both runs share")
    if not common:
        raise RunError(f"{current.run_dir}: no example id is shared with {baseline.run_dir}")
    only_b, only_c = len(b_ids - c_ids), len(c_ids - b_ids)
    if only_b or only_c:
        notes.append(f"{only_b} examples only in the baseline and {only_c} only in the current "
                     "run were left out")
    return np.array(common, dtype=object), notes


def compare_runs(baseline: RunData, current: RunData, *, common_ids: bool = False,
                 golden_sets: tuple[str | None, ...] = (None,),
                 n_resamples: int = stats.DEFAULT_RESAMPLES, seed: int = 0) -> Comparison:
    """Deltas (for all common examples and each golden set asked for) and flips."""
    ids, notes = matched_ids(baseline, current, common_ids=common_ids)
    b_arms, c_arms = arm_names(baseline), arm_names(current)
    arms = [a for a in c_arms if a in b_arms]
    b_scorers = {s.name for s in scorer_metas(baseline)}
    scorers = [s for s in scorer_metas(current) if s.name in b_scorers]
    for side, names in (("baseline", set(b_arms) - set(arms)),
                        ("current", set(c_arms) - set(arms))):
        if names:
            notes.append(f"arms only in the {side} run, not compared: "
                         f"{', '.join(sorted(names))}")
    if not arms or not scorers:
        raise RunError(f"{current.run_dir}: shares no arm and scorer with {baseline.run_dir}")
    examples = current.tables.examples
    golden_set_of = examples.golden_sets[current.tables.positions.lookup(ids)]
    b_raw = raw_values(baseline, ids, arms, scorers)
    c_raw = raw_values(current, ids, arms, scorers)
    comparison = Comparison(current.manifest.suite_name,
                            baseline.manifest.run_id or baseline.run_dir.name,
                            current.manifest.run_id or current.run_dir.name, ids,
                            golden_set_of, arms, scorers, baseline.tables.examples.rows,
                            examples.rows, common_ids, notes)
    _fill_deltas(comparison, b_raw, c_raw, golden_sets,
                 stats.resamples_for(len(ids), n_resamples), seed)
    # Flips of the arm and scorer that dropped most come first: where a reader should look.
    drop = {(d.arm, d.scorer): d.interval.estimate
            for (g, _, _), d in comparison.deltas.items() if g is None}
    comparison.flips = sorted(find_flips(comparison, b_raw, c_raw),
                              key=lambda f: (f.to_pass, drop.get((f.arm, f.scorer), 0.0)))
    return comparison


def _fill_deltas(comp: Comparison, b_raw: dict, c_raw: dict, golden_sets: tuple,
                 n_resamples: int, seed: int) -> None:
    columns, keys = [], []
    for golden_set in dict.fromkeys(golden_sets):
        in_scope = (np.ones(comp.n_common, bool) if golden_set is None
                    else comp.golden_set_of == golden_set)
        for arm in comp.arms:
            for meta in comp.scorers:
                d = meta.normalise(c_raw[meta.name][arm]) - meta.normalise(b_raw[meta.name][arm])
                d = np.where(in_scope, d, np.nan)
                if not np.isnan(d).all():
                    columns.append(d)
                    keys.append((golden_set, arm, meta))
    if not columns:
        return
    intervals = stats.bootstrap_means(np.column_stack(columns), n_resamples=n_resamples,
                                      seed=seed)
    for (golden_set, arm, meta), d, interval in zip(keys, columns, intervals, strict=True):
        keep = ~np.isnan(d)
        b = b_raw[meta.name][arm][keep]
        c = c_raw[meta.name][arm][keep]
        test = stats.paired_test(meta.normalise(c), meta.normalise(b), binary=meta.binary)
        comp.deltas[(golden_set, arm, meta.name)] = Delta(
            arm, meta.name, golden_set, int(keep.sum()), float(b.mean()), float(c.mean()),
            interval, test)


def find_flips(comp: Comparison, b_raw: dict, c_raw: dict) -> list[Flip]:
    """Examples whose binary score changed between the runs."""
    flips: list[Flip] = []
    for arm in comp.arms:
        for meta in comp.scorers:
            if not meta.binary:
                continue
            b = meta.normalise(b_raw[meta.name][arm])
            c = meta.normalise(c_raw[meta.name][arm])
            both = ~(np.isnan(b) | np.isnan(c))
            for i in np.flatnonzero(both & ((b >= 0.5) != (c >= 0.5))):
                flips.append(Flip(arm, meta.name, str(comp.example_ids[i]),
                                  str(comp.golden_set_of[i]), bool(c[i] >= 0.5),
                                  float(b_raw[meta.name][arm][i]),
                                  float(c_raw[meta.name][arm][i])))
    return flips
