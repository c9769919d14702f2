"""Statistical honesty on simulated suites with a known truth: the intervals cover the truth at
close to their nominal 95%, and the beats gate approves a tune that is truly no better at close
to its one-sided 2.5%.

Many suites are evaluated in one call: each suite is a column of the bootstrap's value matrix.
Columns share resample indices, which leaves each suite's interval a valid bootstrap interval of
its own (independent) data, so the coverage over columns is an honest estimate.
"""

from __future__ import annotations

import numpy as np

from harness import stats
from harness.decision.gates import FAIL, PASS, interval_status

SUITES = 1000
BATCH = 250  # columns per bootstrap call, to bound memory


def intervals_per_suite(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimates, lows, highs) of the harness's 95% interval for each column (suite)."""
    ivs = []
    for start in range(0, values.shape[1], BATCH):
        ivs += stats.bootstrap_means(values[:, start:start + BATCH], seed=start)
    return (np.array([iv.estimate for iv in ivs]), np.array([iv.low for iv in ivs]),
            np.array([iv.high for iv in ivs]))


def paired_binary_suites(rng, n, p_a, p_b, suites=SUITES):
    """Scores of two arms on n examples per suite, correlated through example difficulty."""
    difficulty = rng.normal(0.0, 0.2, (n, suites))
    a = (rng.random((n, suites)) < np.clip(p_a - difficulty, 0, 1)).astype(float)
    b = (rng.random((n, suites)) < np.clip(p_b - difficulty, 0, 1)).astype(float)
    return a, b


def true_win_rate(p_a, p_b, rng, draws=2_000_000):
    a, b = paired_binary_suites(rng, draws, p_a, p_b, suites=1)
    return float(np.mean(stats.win_points(stats.outcomes(a, b))))


def test_win_rate_intervals_cover_the_true_win_rate_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    truth = true_win_rate(0.7, 0.6, np.random.default_rng(99))
    a, b = paired_binary_suites(rng, 150, 0.7, 0.6)
    _, low, high = intervals_per_suite(stats.win_points(stats.outcomes(a, b)))
    coverage = np.mean((low <= truth) & (truth <= high))
    # Binomial noise over 1000 suites is about 0.007; percentile intervals run slightly narrow.
    assert 0.925 <= coverage <= 0.97, coverage


def test_mean_difference_intervals_cover_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(12)
    n = 120
    # Skewed, bounded continuous scores (like token F1), correlated within an example.
    base = rng.beta(2.0, 3.0, (n, SUITES))
    tuned = np.clip(base + rng.normal(0.05, 0.15, (n, SUITES)), 0, 1)
    truth_sample = rng.beta(2.0, 3.0, 4_000_000)
    truth = float(np.mean(np.clip(truth_sample + rng.normal(0.05, 0.15, truth_sample.size),
                                  0, 1) - truth_sample))
    _, low, high = intervals_per_suite(tuned - base)
    coverage = np.mean((low <= truth) & (truth <= high))
    assert 0.925 <= coverage <= 0.97, coverage


def test_beats_gate_false_approve_rate_stays_near_two_and_a_half_percent():
    rng = np.random.default_rng(13)
    # The tune is truly no better: same quality, so the true win rate is exactly 0.5.
    a, b = paired_binary_suites(rng, 200, 0.65, 0.65, suites=2000)
    _, low, high = intervals_per_suite(stats.win_points(stats.outcomes(a, b)))
    statuses = [interval_status(stats.Interval(0.5, lo, hi), 0.5) for lo, hi in
                zip(low, high, strict=True)]
    false_approve = statuses.count(PASS) / len(statuses)
    false_reject = statuses.count(FAIL) / len(statuses)
    # One side of a two-sided 95% interval: 2.5% nominal; binomial noise is about 0.0035.
    assert 0.01 <= false_approve <= 0.045, false_approve
    assert 0.01 <= false_reject <= 0.045, false_reject


def test_beats_gate_approves_a_clearly_better_tune_almost_always():
    rng = np.random.default_rng(14)
    a, b = paired_binary_suites(rng, 200, 0.8, 0.55, suites=500)
    _, low, high = intervals_per_suite(stats.win_points(stats.outcomes(a, b)))
    approvals = np.mean([interval_status(stats.Interval(0.5, lo, hi), 0.5) == PASS
                         for lo, hi in zip(low, high, strict=True)])
    assert approvals > 0.95


def test_sign_test_rejects_a_true_null_at_close_to_its_level():
    rng = np.random.default_rng(15)
    a, b = paired_binary_suites(rng, 200, 0.6, 0.6, suites=2000)
    outcome = stats.outcomes(a, b)
    p = np.array([stats.sign_test(int(np.sum(o > 0)), int(np.sum(o < 0))).p_value
                  for o in outcome.T])
    # Exact tests are conservative: at most 5%, and not absurdly below.
    assert 0.02 <= np.mean(p < 0.05) <= 0.06
