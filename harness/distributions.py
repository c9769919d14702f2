"""The few scipy.stats functions the statistics use, without importing scipy.stats.

`import scipy.stats` takes 0.6-0.8 s (measured on 2 CPU cores), more than the statistics of a
1,000-example run; `harness run` pays it at the end of every run. What harness/stats.py and
harness/decision/gates.py call is small and exact to compute directly:

- `norm.cdf`, `norm.sf`, `norm.ppf`: the standard normal, from math.erf/erfc (the same split
  as scipy's ndtr) and statistics.NormalDist.inv_cdf (Wichura's AS241, as accurate as scipy's
  ndtri);
- `binom.cdf(k, n, 0.5)`: the exact sum of binomial terms in integers (the sign test's fair
  coin), up to `EXACT_BINOM_MAX_N` trials;
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

EXACT_BINOM_MAX_N = 5_000  # up to: exact in integers (under 5 ms); above: scipy (incomplete beta)

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
                or not 0 <= n <= EXACT_BINOM_MAX_N or math.isnan(float(k)):
            return _scipy().binom.cdf(k, n, p)
        n = int(n)
        k = math.floor(float(k))
        if k < 0:
            return 0.0
        if k >= n:
            return 1.0
        term, total = 1, 1  # C(n, 0)
        for i in range(1, k + 1):
            term = term * (n - i + 1) // i
            total += term
        return total / (1 << n)  # int / int: correctly rounded

    def __getattr__(self, name: str) -> Any:
        return getattr(_scipy().binom, name)


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
