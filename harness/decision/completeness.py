"""Is a run whole? What a partial run lacks, so reports can say so and verdicts stay honest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import RunError
from harness.store import RESPONSES, SCORES, RunData, load_run


@dataclass(frozen=True)
class Completeness:
    status: str
    expected_responses: int
    responses: int
    expected_scores: int
    scores: int
    # Pairwise judges: pairs of the run's examples to judge (at most; an answer missing from
    # the run leaves its pairs out) and judged.
    expected_judgements: int = 0
    judgements: int = 0

    @property
    def partial(self) -> bool:
        return (self.status != "complete" or self.responses < self.expected_responses
                or self.scores < self.expected_scores
                or self.judgements < self.expected_judgements)

    @property
    def summary(self) -> str | None:
        """One line on what is missing, or None for a whole run."""
        if not self.partial:
            return None
        judged = (f", {self.judgements} of {self.expected_judgements} pairwise judgements"
                  if self.expected_judgements else "")
        return (f"status '{self.status}', {self.responses} of {self.expected_responses} "
                f"responses and {self.scores} of {self.expected_scores} scores{judged}")


def completeness(run: RunData) -> Completeness:
    tables = run.tables
    arms = run.manifest.arm_names or list(tables.responses.arms)
    n_examples = tables.examples.n
    per_set: dict[str, int] = {}
    for name in tables.examples.golden_sets:
        per_set[name] = per_set.get(name, 0) + 1
    expected_scores = 0
    for scorer in run.manifest.scorers:
        sets = scorer.golden_sets
        n = n_examples if sets is None else sum(per_set.get(s, 0) for s in sets)
        scored_arms = len(arms) if scorer.arms is None else len(
            [a for a in arms if a in scorer.arms])
        expected_scores += n * scored_arms
    expected_judgements = 0
    for judge in run.manifest.judges:
        if judge.pairwise:
            sets = judge.golden_sets
            n = n_examples if sets is None else sum(per_set.get(s, 0) for s in sets)
            expected_judgements += n * len(judge.pairs)
    judged = run.judgements
    judgements = 0 if judged.empty else int(
        (~judged["calibration"].fillna(False).astype(bool)).sum())
    return Completeness(run.manifest.status or "unknown", n_examples * len(arms),
                        tables.responses.rows, expected_scores, tables.scores.rows,
                        expected_judgements, judgements)


def load_scored_run(run_dir: str | Path) -> RunData:
    """load_run, refusing a run with nothing to judge (and saying which file is missing)."""
    run = load_run(run_dir)
    path = Path(run_dir)
    for name, rows, what in ((RESPONSES, run.tables.responses.rows, "generated"),
                             (SCORES, run.tables.scores.rows, "scored")):
        if not (path / name).is_file():
            raise RunError(f"{path}: incomplete run: {name} is missing (nothing was {what} "
                           "yet); resume it with `harness run` on its suite")
        if not rows:
            raise RunError(f"{path}: incomplete run: {name} is empty (nothing was {what} "
                           "yet); resume it with `harness run` on its suite")
    if not run.tables.examples.rows:
        raise RunError(f"{path}: incomplete run: examples.jsonl has no examples")
    return run
