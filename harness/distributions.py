"""The few scipy.stats functions the statistics use, without importing scipy.stats.

`import scipy.stats` takes 0.6-0.8 s (measured on 2 CPU cores), more than the statistics of a
1,000-example run; `harness run` pays it at the end of every run. What harness/stats.py and
harness/decision/gates.py call is small and exact to compute directly:

- `norm.cdf`, `norm.sf`, `norm.ppf`: the standard normal, from math.erf/erfc (the same split
  as scipy's ndtr) and statistics.NormalDist.inv_cdf (Wichura's AS241, as accurate as scipy's
  ndtri);
- `binom.cdf(k, n, 0.5)`: the exact sum of binomial terms in integers (the sign test's fair
  coin) up to `EXACT_BINOM_MAX_N` trials; above, up to `LOG_BINOM_MAX_N`, the same sum in
  floating point from its largest term (relative error ~1e-9: a sign test over 100,000
  examples no longer imports scipy, 23 MB and 0.6 s);
- `rankdata`: average ranks of ties, as scipy's default.

Anything else (another `p`, a very large `n`, NaN ranks, a name not defined here) is scipy's
own, imported on first use; so `from harness import distributions as sps` behaves as
`from scipy import stats as sps` for every call. tests/test_distributions.py checks the two agree.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

EXACT_BINOM_MAX_N = 5_000  # up to: exact in integers (under 5 ms)
LOG_BINOM_MAX_N = 1_000_000  # up to: summed in floating point (lgamma's error grows with n)

_SQRT1_2 = math.sqrt(0.5)
_STANDARD = NormalDist()


def _scipy() -> Any:
    from scipy import stats

    return stats


def _ndtr(x: float) -> float:
    """P(Z <= x): erf near 0 and erfc in the tails, so neither loses digits (cephes' ndtr)."""
    if math.isnan(x):
        return math.nan
    z = x * _SQRT1_2
    if abs(z) < _SQRT1_2:
        return 0.5 + 0.5 * math.erf(z)
    tail = 0.5 * math.erfc(abs(z))
    return 1.0 - tail if z > 0 else tail


class _Norm:
    """The standard normal distribution (scalars; arrays go to scipy)."""

    @staticmethod
    def cdf(x: Any) -> Any:
        if np.ndim(x):
            return _scipy().norm.cdf(x)
        return _ndtr(float(x))

    @staticmethod
    def sf(x: Any) -> Any:
        if np.ndim(x):
            return _scipy().norm.sf(x)
        return _ndtr(-float(x))

    @staticmethod
    def ppf(q: Any) -> Any:
        if np.ndim(q):
            return _scipy().norm.ppf(q)
        q = float(q)
        if math.isnan(q) or q < 0.0 or q > 1.0:
            return math.nan
        if q == 0.0:
            return -math.inf
        if q == 1.0:
            return math.inf
        return _STANDARD.inv_cdf(q)

    def __getattr__(self, name: str) -> Any:
        return getattr(_scipy().norm, name)


class _Binom:
    """The binomial distribution: exact for a fair coin, scipy otherwise."""

    @staticmethod
    def cdf(k: Any, n: Any, p: Any) -> Any:
        if np.ndim(k) or np.ndim(n) or np.ndim(p) or p != 0.5 or n != int(n) \
                or not 0 <= n <= LOG_BINOM_MAX_N or math.isnan(float(k)):
            return _scipy().binom.cdf(k, n, p)
        n = int(n)
        k = math.floor(float(k))
        if k < 0:
            return 0.0
        if k >= n:
            return 1.0
        if n > EXACT_BINOM_MAX_N:
            return _fair_coin_cdf(k, n)
        term, total = 1, 1  # C(n, 0)
        for i in range(1, k + 1):
            term = term * (n - i + 1) // i
            total += term
        return total / (1 << n)  # int / int: correctly rounded

    def __getattr__(self, name: str) -> Any:
        return getattr(_scipy().binom, name)


def _fair_coin_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), 0 <= k < n, in floating point: the k-th term from
    lgamma, then the ones below it as ratios of it until they no longer count."""
    if 2 * k >= n:  # past the middle: by symmetry, 1 - P(X <= n - k - 1)
        return 1.0 - _fair_coin_cdf(n - k - 1, n)
    log_term = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                - n * math.log(2.0))
    total, ratio = 1.0, 1.0
    for i in range(k, 0, -1):  # term i-1 / term k; below the middle the terms fall
        ratio *= i / (n - i + 1)
        total += ratio
        if ratio < 1e-17 * total:
            break
    return math.exp(log_term) * total


norm = _Norm()
binom = _Binom()


def rankdata(a: Any) -> np.ndarray:
    """Ranks from 1, ties given the average of their ranks (scipy's method='average')."""
    x = np.asarray(a)
    if x.dtype.kind == "f" and np.isnan(x).any():
        return _scipy().rankdata(a)
    x = x.ravel()
    order = np.argsort(x, kind="mergesort")
    inverse = np.empty(order.size, dtype=np.intp)
    inverse[order] = np.arange(order.size, dtype=np.intp)
    ordered = x[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = np.cumsum(starts)[inverse]
    bounds = np.r_[np.nonzero(starts)[0], starts.size]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def __getattr__(name: str) -> Any:
    """Every other scipy.stats name, from scipy itself."""
    return getattr(_scipy(), name)
