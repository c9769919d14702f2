"""Calibration of the whole analyse -> gates -> verdict path on simulated suites with a known
truth: several gates (so many checks), ties, small n. Not just the bootstrap primitive: what a
user sees is the verdict, so its error rates are what is measured here.

Seeds are fixed, so every figure is reproducible; the bounds leave room for the binomial noise
of the number of simulated runs (about 1.4 points at 2.5% over 120 runs).
"""

from __future__ import annotations

import pytest

from harness.decision.completeness import load_scored_run
from harness.decision.evaluate import evaluate
from harness.decision.gates import count_checks
from tests.simulate import SimArm, SimRun, write_run

RUNS = 120
RESAMPLES = 1000

DEMO_LIKE_GATES = [
    {"type": "beats", "arm": "tuned", "baseline": "prompt", "min_win_rate_lower": 0.5},
    {"type": "not_worse", "arm": "tuned", "baseline": "prompt", "scorers": "all",
     "max_drop": 0.0},
    {"type": "no_regression", "arm": "tuned", "baseline": "prompt", "max_drop": 0.0},
]


def verdicts(tmp_path, arms, gates, n_tasks, n_guard, tie_margin=0.0, runs=RUNS):
    out = []
    for seed in range(runs):
        sim = SimRun(run_id=f"r{seed}", seed=seed, arms=arms, gates=gates, n_tasks=n_tasks,
                     n_guard=n_guard, tie_margin=tie_margin)
        ev = evaluate(load_scored_run(write_run(tmp_path, sim)), n_resamples=RESAMPLES,
                      seed=seed)
        out.append(ev)
    return out


def rate(evs, decision: str) -> float:
    return sum(ev.verdict.decision == decision for ev in evs) / len(evs)


NULL = [SimArm("prompt", quality=0.65, guard_quality=0.85),
        SimArm("tuned", kind="tuned", quality=0.65, guard_quality=0.85)]


@pytest.fixture(scope="module")
def null_runs(tmp_path_factory):
    return verdicts(tmp_path_factory.mktemp("null"), NULL, DEMO_LIKE_GATES, 80, 40)


def test_under_the_null_many_checks_do_not_inflate_wrong_rejections(null_runs):
    """Every check sits exactly on its bar (no drop allowed, equal arms): each alone fails at
    2.5%; with m checks an uncorrected verdict would reject far more often."""
    m = count_checks(null_runs[0].results)
    assert m >= 5
    unadjusted = sum(any("not after Holm" in c.message or c.status == "fail"
                         for r in ev.results for c in r.checks) for ev in null_runs) / RUNS
    wrong_reject = rate(null_runs, "REJECT")
    assert wrong_reject <= 0.06, wrong_reject
    assert wrong_reject <= unadjusted  # the correction only ever removes rejections


def test_under_the_null_a_tune_that_is_no_better_is_rarely_approved(null_runs):
    assert rate(null_runs, "APPROVE") <= 0.06


def test_the_report_states_the_number_of_checks_and_the_policy(null_runs):
    verdict = null_runs[0].verdict
    assert verdict.checks == count_checks(null_runs[0].results)
    assert f"each of the {verdict.checks} checks" in verdict.policy
    assert "Holm" in verdict.policy


def test_a_clearly_worse_tune_is_rejected_despite_the_correction(tmp_path):
    arms = [SimArm("prompt", quality=0.75, guard_quality=0.9),
            SimArm("tuned", kind="tuned", quality=0.5, guard_quality=0.9)]
    evs = verdicts(tmp_path, arms, DEMO_LIKE_GATES, 150, 40, runs=30)
    assert rate(evs, "REJECT") >= 0.9


def test_a_clearly_better_tune_without_forgetting_is_approved_with_room_to_spare(tmp_path):
    arms = [SimArm("prompt", quality=0.55, guard_quality=0.9),
            SimArm("tuned", kind="tuned", quality=0.8, guard_quality=0.9)]
    gates = [{**DEMO_LIKE_GATES[0]},
             {**DEMO_LIKE_GATES[1], "max_drop": 0.05},
             {**DEMO_LIKE_GATES[2], "max_drop": 0.25}]
    evs = verdicts(tmp_path, arms, gates, 200, 120, runs=30)
    assert rate(evs, "APPROVE") >= 0.8


def test_with_tiny_golden_sets_the_verdict_is_inconclusive_not_a_coin_flip(tmp_path):
    arms = [SimArm("prompt", quality=0.6), SimArm("tuned", kind="tuned", quality=0.7)]
    evs = verdicts(tmp_path, arms, DEMO_LIKE_GATES, 8, 5, runs=40)
    assert rate(evs, "INCONCLUSIVE") >= 0.8
    assert rate(evs, "APPROVE") <= 0.05


def test_ties_within_the_margin_count_half_and_do_not_make_a_win(tmp_path):
    """A large tie margin on equal arms: most pairs tie, the win rate stays at 0.5, and the
    beats gate neither passes nor (wrongly) fails more than its level."""
    evs = verdicts(tmp_path, NULL, DEMO_LIKE_GATES[:1], 80, 20, tie_margin=0.3, runs=60)
    assert rate(evs, "APPROVE") <= 0.06
    assert rate(evs, "REJECT") <= 0.06
    win = evs[0].analysis.win("@tasks", "tuned", "prompt", "token_f1")
    assert win.counts.ties > win.counts.n // 3


def test_a_threshold_on_noise_is_inconclusive_rather_than_flipping(tmp_path):
    """The true pass rate sits on the bar: judged on the point estimate, the gate would pass or
    fail about half the time each; judged on its interval it is mostly inconclusive."""
    arms = [SimArm("prompt", quality=0.7), SimArm("tuned", kind="tuned", quality=0.7)]
    gates = [{"type": "threshold", "arm": "tuned", "scorer": "json_valid", "min": 0.7}]
    evs = verdicts(tmp_path, arms, gates, 100, 10, runs=40)
    assert rate(evs, "INCONCLUSIVE") >= 0.8
    assert rate(evs, "REJECT") <= 0.05 and rate(evs, "APPROVE") <= 0.05
