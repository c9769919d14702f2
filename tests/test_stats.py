"""harness.stats: outcomes, win rates, the paired bootstrap and the paired tests, checked against
scipy on the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness import stats


def mean_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


# --- outcomes and win rates -------------------------------------------------------------------


def test_outcomes_count_a_win_a_tie_within_the_margin_and_a_loss():
    a = np.array([0.9, 0.50, 0.2, np.nan])
    b = np.array([0.5, 0.52, 0.8, 0.1])
    out = stats.outcomes(a, b, tie_margin=0.05)
    assert out[:3].tolist() == [1.0, 0.0, -1.0]
    assert np.isnan(out[3])


def test_outcomes_flip_for_a_lower_is_better_scorer():
    assert stats.outcomes(np.array([1.0]), np.array([2.0]),
                          higher_is_better=False).tolist() == [1.0]


def test_float_noise_is_a_tie_not_a_win():
    assert stats.outcomes(np.array([0.1 + 0.2]), np.array([0.3])).tolist() == [0.0]


def test_win_rate_counts_a_tie_as_one_half():
    counts = stats.win_counts(np.array([1, 1, 0, -1, np.nan]))
    assert (counts.wins, counts.ties, counts.losses, counts.n) == (2, 1, 1, 4)
    assert counts.win_rate == pytest.approx(2.5 / 4)
    assert np.nanmean(stats.win_points(np.array([1, 1, 0, -1]))) == pytest.approx(2.5 / 4)


# --- the bootstrap -----------------------------------------------------------------------------


def test_bootstrap_interval_holds_the_estimate_and_is_reproducible_with_a_seed():
    x = np.random.default_rng(0).normal(0.3, 1.0, 300)
    first = stats.bootstrap_means(x, seed=7)[0]
    again = stats.bootstrap_means(x, seed=7)[0]
    other = stats.bootstrap_means(x, seed=8)[0]
    assert first == again
    assert first != other
    assert first.estimate == pytest.approx(x.mean())
    assert first.low < first.estimate < first.high


def test_bootstrap_percentile_interval_agrees_with_scipy():
    rng = np.random.default_rng(1)
    a = rng.beta(5, 2, 400)
    b = np.clip(a - rng.normal(0.05, 0.1, 400), 0, 1)
    ours = stats.bootstrap_means(a - b)[0]
    theirs = sps.bootstrap((a, b), mean_diff, paired=True, vectorized=True,
                           n_resamples=10_000, method="percentile", random_state=0)
    ci = theirs.confidence_interval
    # Different random draws: the ends agree to Monte Carlo precision.
    assert ours.low == pytest.approx(ci.low, abs=0.003)
    assert ours.high == pytest.approx(ci.high, abs=0.003)


def test_bootstrap_standard_error_matches_the_textbook_one():
    x = np.random.default_rng(2).normal(0.0, 1.0, 2000)
    iv = stats.bootstrap_means(x)[0]
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert iv.half_width == pytest.approx(1.96 * se, rel=0.05)


def test_missing_values_are_left_out_of_a_column_without_touching_the_others():
    rng = np.random.default_rng(3)
    full = rng.random(500)
    holes = full.copy()
    holes[::5] = np.nan
    both = stats.bootstrap_means(np.column_stack([full, holes]))
    assert both[0].estimate == pytest.approx(full.mean())
    assert both[1].estimate == pytest.approx(np.nanmean(holes))
    alone = stats.bootstrap_means(full)[0]
    # Same resamples (float32 sums may round differently in a wider product).
    assert (both[0].low, both[0].high) == pytest.approx((alone.low, alone.high), rel=1e-6)
    # The column with holes has fewer examples: a wider interval.
    assert both[1].half_width > both[0].half_width * 1.02


def test_columns_share_resamples_so_a_difference_of_means_matches_the_mean_difference():
    rng = np.random.default_rng(4)
    a, b = rng.random(300), rng.random(300)
    ivs = stats.bootstrap_means(np.column_stack([a, b, a - b, a]))
    assert ivs[3] == ivs[0]  # identical columns, identical resamples
    assert ivs[2].estimate == pytest.approx(ivs[0].estimate - ivs[1].estimate)


def test_a_constant_column_has_a_zero_width_interval():
    iv = stats.bootstrap_means(np.zeros(50))[0]
    assert (iv.estimate, iv.low, iv.high) == (0.0, 0.0, 0.0)


# --- paired tests against scipy ----------------------------------------------------------------


@pytest.mark.parametrize("wins,losses", [(30, 18), (0, 0), (5, 0), (100, 100), (3, 40)])
def test_sign_test_agrees_with_scipy_binomtest(wins, losses):
    ours = stats.sign_test(wins, losses).p_value
    theirs = sps.binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_mcnemar_is_an_exact_binomial_test_of_the_discordant_pairs():
    rng = np.random.default_rng(5)
    a = (rng.random(200) < 0.7).astype(float)
    b = (rng.random(200) < 0.6).astype(float)
    only_a = int(np.sum((a == 1) & (b == 0)))
    only_b = int(np.sum((a == 0) & (b == 1)))
    result = stats.mcnemar_exact(a, b)
    assert result.p_value == pytest.approx(sps.binomtest(only_a, only_a + only_b).pvalue)
    assert result.n == only_a + only_b


@pytest.mark.parametrize("n", [8, 20, 50, 51, 400])
def test_wilcoxon_agrees_with_scipy_exact_and_approximate(n):
    d = np.random.default_rng(n).normal(0.2, 1.0, n)  # continuous: no ties, no zeros
    ours = stats.wilcoxon_signed_rank(d)
    theirs = sps.wilcoxon(d)  # scipy picks exact up to 50, the normal approximation above
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
    assert ours.statistic == pytest.approx(theirs.statistic)


def test_wilcoxon_with_ties_and_zeros_agrees_with_scipy_normal_approximation():
    d = np.round(np.random.default_rng(6).normal(0.1, 0.5, 300), 1)
    assert np.any(d == 0) and len(np.unique(np.abs(d))) < d.size
    ours = stats.wilcoxon_signed_rank(d).p_value
    theirs = sps.wilcoxon(d, method="asymptotic", zero_method="wilcox", correction=False).pvalue
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_exact_permutation_test_agrees_with_scipy():
    x = np.random.default_rng(7).normal(0.4, 1.0, 12)
    y = np.zeros(12)
    ours = stats.permutation_test(x - y).p_value
    theirs = sps.permutation_test((x, y), mean_diff, permutation_type="samples",
                                  vectorized=True).pvalue
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_monte_carlo_permutation_test_agrees_with_scipy_within_noise():
    d = np.random.default_rng(8).normal(0.15, 1.0, 200)
    ours = stats.permutation_test(d).p_value
    theirs = sps.permutation_test((d, np.zeros_like(d)), mean_diff,
                                  permutation_type="samples", vectorized=True,
                                  n_resamples=10_000, random_state=0).pvalue
    assert ours == pytest.approx(theirs, abs=0.02)


def test_paired_test_picks_mcnemar_for_binary_and_wilcoxon_for_continuous_scores():
    a, b = np.array([1.0, 1, 0, 1]), np.array([0.0, 1, 0, 0])
    assert stats.paired_test(a, b, binary=True).name == "McNemar (exact)"
    assert stats.paired_test(a, b, binary=False).name == "Wilcoxon signed-rank"
    assert stats.paired_test(a, b, binary=False, method="permutation").name == "permutation"


# --- how many more examples -------------------------------------------------------------------


def test_examples_needed_grows_as_the_effect_shrinks():
    iv_far = stats.Interval(0.56, 0.48, 0.64)
    iv_near = stats.Interval(0.52, 0.44, 0.60)
    far = stats.examples_needed(iv_far, 100, 0.5)
    near = stats.examples_needed(iv_near, 100, 0.5)
    assert far is not None and near is not None and 100 < far < near


def test_examples_needed_matches_the_normal_power_formula():
    # se = 0.04 at n = 100; gap 0.05: n' = 100 * ((1.96 + 0.8416) * 0.04 / 0.05)^2
    iv = stats.Interval(0.55, 0.55 - 1.959964 * 0.04, 0.55 + 1.959964 * 0.04)
    expected = math.ceil(100 * ((1.959964 + 0.841621) * 0.04 / 0.05) ** 2)
    assert stats.examples_needed(iv, 100, 0.5) == expected


def test_examples_needed_is_none_when_the_estimate_sits_on_the_bar():
    assert stats.examples_needed(stats.Interval(0.5, 0.4, 0.6), 100, 0.5) is None
