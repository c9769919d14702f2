"""harness.distributions gives what scipy.stats gives, without importing scipy.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from harness import distributions as sps
from tests.cli_helpers import run_python


@pytest.mark.parametrize("x", [-40.0, -8.5, -3.0, -1.0, -0.7071, -0.3, 0.0, 1e-9, 0.5, 0.7072,
                               1.96, 3.0, 8.5, 40.0, math.inf, -math.inf])
def test_normal_cdf_and_sf_agree_with_scipy(x):
    assert sps.norm.cdf(x) == pytest.approx(float(stats.norm.cdf(x)), rel=1e-13, abs=1e-300)
    assert sps.norm.sf(x) == pytest.approx(float(stats.norm.sf(x)), rel=1e-13, abs=1e-300)


@given(st.floats(min_value=1e-300, max_value=1 - 1e-16))
def test_normal_ppf_agrees_with_scipy(q):
    assert sps.norm.ppf(q) == pytest.approx(float(stats.norm.ppf(q)), rel=1e-12, abs=1e-12)


def test_normal_ppf_edges_and_arrays_are_scipys():
    assert sps.norm.ppf(0.0) == -math.inf and sps.norm.ppf(1.0) == math.inf
    assert math.isnan(sps.norm.ppf(1.5)) and math.isnan(sps.norm.ppf(math.nan))
    assert math.isnan(sps.norm.cdf(math.nan))
    q = np.array([0.025, 0.5, 0.975])
    assert np.allclose(sps.norm.ppf(q), stats.norm.ppf(q))
    assert sps.norm.pdf(0.0) == pytest.approx(stats.norm.pdf(0.0))  # anything else: scipy's


@given(st.integers(min_value=0, max_value=3000), st.data())
def test_fair_coin_binomial_cdf_agrees_with_scipy(n, data):
    k = data.draw(st.integers(min_value=-2, max_value=n + 2))
    assert sps.binom.cdf(k, n, 0.5) == pytest.approx(float(stats.binom.cdf(k, n, 0.5)),
                                                     rel=1e-11, abs=1e-300)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=sps.EXACT_BINOM_MAX_N + 1, max_value=sps.LOG_BINOM_MAX_N),
       st.floats(0.0, 1.0))
def test_fair_coin_binomial_cdf_of_many_trials_agrees_with_scipy(n, where):
    # k from far in the lower tail (tiny p-values) through the middle to the upper tail.
    k = int(where * n)
    assert sps.binom.cdf(k, n, 0.5) == pytest.approx(float(stats.binom.cdf(k, n, 0.5)),
                                                     rel=1e-8, abs=1e-300)


def test_binomial_cdf_outside_the_computed_range_is_scipys():
    n = sps.LOG_BINOM_MAX_N + 1
    assert sps.binom.cdf(n // 2, n, 0.5) == pytest.approx(stats.binom.cdf(n // 2, n, 0.5))
    assert sps.binom.cdf(3, 10, 0.3) == pytest.approx(stats.binom.cdf(3, 10, 0.3))
    assert sps.binom.cdf(4.5, 10, 0.5) == pytest.approx(stats.binom.cdf(4.5, 10, 0.5))


@given(st.lists(st.integers(min_value=-5, max_value=5) | st.floats(-1e6, 1e6), max_size=60))
def test_average_ranks_agree_with_scipy(values):
    assert np.array_equal(sps.rankdata(np.asarray(values, dtype=float)),
                          stats.rankdata(np.asarray(values, dtype=float)))


def test_ranks_with_nan_and_other_names_are_scipys():
    x = np.array([1.0, math.nan, 0.5])
    assert np.array_equal(sps.rankdata(x), stats.rankdata(x), equal_nan=True)
    assert sps.binomtest is stats.binomtest


def test_the_statistics_never_import_scipy_for_small_or_large_runs():
    script = (
        "import sys\n"
        "import numpy as np\n"
        "from harness import stats\n"
        "from harness.decision import gates\n"
        "rng = np.random.default_rng(0)\n"
        "a, b = rng.random(200), rng.random(200)\n"
        "stats.paired_test(a, b, binary=False); stats.paired_test(a > .5, b > .5, binary=True)\n"
        "stats.sign_test(120, 60); stats.sign_test(27_495, 15_772)  # 100,000 examples\n"
        "stats.wilcoxon_signed_rank(a - b)\n"
        "stats.examples_needed(stats.bootstrap_means(a - b)[0], 200, 0.0)\n"
        "print('scipy' in sys.modules)\n")
    out = run_python(script, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
