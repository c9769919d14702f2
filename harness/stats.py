"""Paired statistics for comparing arms on the same examples: pure numpy/scipy, no I/O.

Conventions: `a` and `b` are two arms' scores on the same examples, in the same order, NaN where
a score is missing. An outcome is +1 when `a` wins, 0 for a tie, -1 when `b` wins (NaN when
either score is missing). The win rate counts a tie as one half.

Intervals are percentile intervals of a paired bootstrap over examples: a resample draws
examples with replacement and keeps every arm's scores on a drawn example together, so the
pairing survives. All statistics of a run share the same resamples and are computed at once as
one matrix product (resample counts x per-example values), which is what makes 10,000 resamples
of 10,000 examples cheap.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np

# scipy.stats' five functions used here, without its 0.6 s import (scipy's own elsewhere)
from harness import distributions as sps

try:  # present with scikit-learn (a dependency of sentence-transformers); optional here
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

DEFAULT_RESAMPLES = 10_000
DEFAULT_LEVEL = 0.95
DEFAULT_POWER = 0.8
# Elements of the (resamples x examples) count matrix built per chunk: small enough to stay
# in cache, large enough to keep the matrix product efficient.
_CHUNK_ELEMENTS = 2_000_000
# Examples x resamples a bootstrap draws at most (resamples_for): 10,000 resamples up to
# 20,000 examples, fewer above (2,000 at 100,000), never fewer than MIN_RESAMPLES.
RESAMPLE_DRAWS = 200_000_000
MIN_RESAMPLES = 2_000


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float = DEFAULT_LEVEL

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class WinCounts:
    wins: int
    ties: int
    losses: int

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def win_rate(self) -> float:
        return (self.wins + 0.5 * self.ties) / self.n if self.n else math.nan


@dataclass(frozen=True)
class TestResult:
    name: str  # "sign test", "McNemar (exact)", "Wilcoxon signed-rank", "permutation"
    statistic: float
    p_value: float
    n: int  # examples that carried information (non-ties, non-zero differences)


# --- outcomes and win rates ------------------------------------------------------------------


def outcomes(a: np.ndarray, b: np.ndarray, *, tie_margin: float = 0.0,
             higher_is_better: bool = True) -> np.ndarray:
    """+1 where `a` is better, -1 where `b` is, 0 within `tie_margin`; NaN if either is missing."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    diff = a - b if higher_is_better else b - a
    # A tiny tolerance keeps float noise (0.1 + 0.2 - 0.3) from turning ties into wins.
    margin = tie_margin + 1e-12
    out = np.where(diff > margin, 1.0, np.where(diff < -margin, -1.0, 0.0))
    out[np.isnan(diff)] = np.nan
    return out


def win_counts(outcome: np.ndarray) -> WinCounts:
    o = np.asarray(outcome, dtype=float)
    return WinCounts(int(np.sum(o > 0)), int(np.sum(o == 0)), int(np.sum(o < 0)))


def win_points(outcome: np.ndarray) -> np.ndarray:
    """Per-example points whose mean is the win rate: 1 win, 0.5 tie, 0 loss (NaN kept)."""
    return (np.asarray(outcome, dtype=float) + 1.0) / 2.0


# --- the paired bootstrap --------------------------------------------------------------------


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """Many modest matrix products: BLAS threads cost more in synchronisation than they gain
    (measured 2x slower on a busy 2-core machine), so run them on one thread."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def resample_counts(rng: np.random.Generator, n: int, m: int,
                    out: np.ndarray | None = None, *, rowwise: bool = False) -> np.ndarray:
    """(m, n) matrix: how often each of n examples is drawn in each of m bootstrap resamples
    (written into `out`, a float32 (m, n) buffer, when given). The draws are made for the whole
    block at once, or (rowwise) one resample at a time: less memory, another random stream."""
    dtype = np.int64 if n >= 2**31 else np.int32
    idx = None if rowwise else rng.integers(0, n, size=(m, n), dtype=dtype)
    counts = np.empty((m, n), dtype=np.float32) if out is None else out
    # One bincount per resample: its n counters stay in cache (one bincount over the whole
    # m x n block scatters over m x n counters and was measured 4x slower at n = 100,000).
    for row in range(m):
        drawn = rng.integers(0, n, size=n, dtype=dtype) if idx is None else idx[row]
        counts[row] = np.bincount(drawn, minlength=n)
    return counts


def resamples_for(n: int, requested: int = DEFAULT_RESAMPLES) -> int:
    """The resamples a bootstrap over n examples draws: `requested`, but no more than
    RESAMPLE_DRAWS / n (at least MIN_RESAMPLES), so its cost stops growing with n.

    A percentile end estimated from m resamples has a Monte Carlo standard error of about
    sqrt(0.025 * 0.975 / m) / 0.058 standard errors of the mean: 3% of the interval's half
    width at m = 2,000, 1.4% at 10,000; at n = 100,000 the interval itself is a few tenths
    of a point wide, so the cap costs nothing a gate could notice.
    """
    if n <= 0:
        return requested
    return min(requested, max(MIN_RESAMPLES, RESAMPLE_DRAWS // n))


class PairedBootstrap:
    """Columns of per-example values (NaN = missing) added one at a time, then percentile
    intervals of their means from one shared paired bootstrap (see bootstrap_means).

    Each column is kept only as float32 with its missing mask and its exact float64 sum, so
    statistics over many columns never hold an n x k float64 matrix (34 MB at 100,000
    examples and 42 columns) beside the float32 one the resamples multiply.
    """

    def __init__(self, n: int, capacity: int):
        self.n = n
        self._values = np.empty((n, capacity), dtype=np.float32)
        self._sums: list[float] = []
        self._counts: list[int] = []
        # Columns that share a missing pattern share their denominators: one mask per
        # pattern (the packed bits are its key), and per column the index of its mask.
        self._groups: dict[bytes, int] = {}
        self._masks: list[np.ndarray] = []
        self._group_of: list[int] = []

    @property
    def k(self) -> int:
        return len(self._sums)

    def add(self, column: np.ndarray) -> int:
        """Add a column; returns its index."""
        j = self.k
        col = np.asarray(column, dtype=float)
        present = ~np.isnan(col)
        filled = np.where(present, col, 0.0)
        self._values[:, j] = filled
        key = np.packbits(present).tobytes()
        if key not in self._groups:
            self._groups[key] = len(self._masks)
            self._masks.append(present.astype(np.float32))
        self._group_of.append(self._groups[key])
        # A sequential sum, as ndarray.sum(axis=0) of the whole matrix adds each column.
        self._sums.append(float(np.cumsum(filled)[-1]) if self.n else 0.0)
        self._counts.append(int(present.sum()))
        return j

    def intervals(self, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                  level: float = DEFAULT_LEVEL) -> list[Interval]:
        n, k = self.n, self.k
        with np.errstate(invalid="ignore", divide="ignore"):
            estimate = np.asarray(self._sums, dtype=np.float64) / np.asarray(self._counts)
        if n == 0 or k == 0:
            return [Interval(float(e), math.nan, math.nan, level) for e in estimate]
        values32 = self._values[:, :k]
        masks32 = np.column_stack(self._masks)
        inverse = np.asarray(self._group_of)
        rng = np.random.default_rng(seed)
        # Above the size where resamples are capped (resamples_for), each resample is drawn
        # on its own and fewer are held at once: the draws of a block would be 8 MB more.
        rowwise = n > RESAMPLE_DRAWS // DEFAULT_RESAMPLES
        chunk = max(1, min(n_resamples, (_CHUNK_ELEMENTS // 2 if rowwise else _CHUNK_ELEMENTS)
                           // n))
        num = np.empty((n_resamples, k), dtype=np.float64)
        den = np.empty((n_resamples, masks32.shape[1]), dtype=np.float64)
        buffer = np.empty((chunk, n), dtype=np.float32)  # reused: one allocation, not one a chunk
        with _one_blas_thread():
            for start in range(0, n_resamples, chunk):
                m = min(chunk, n_resamples - start)
                counts = resample_counts(rng, n, m, out=buffer[:m], rowwise=rowwise)
                num[start:start + m] = counts @ values32
                den[start:start + m] = counts @ masks32
        with np.errstate(invalid="ignore", divide="ignore"):
            means = num / den[:, inverse]
        alpha = 1.0 - level
        probs = [alpha / 2, 1 - alpha / 2]
        if np.isnan(means).any():
            bounds = np.nanquantile(means, probs, axis=0)
        else:
            bounds = np.quantile(means, probs, axis=0)
        return [Interval(float(estimate[j]), float(bounds[0, j]), float(bounds[1, j]), level)
                for j in range(k)]


def bootstrap_means(values: np.ndarray, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                    level: float = DEFAULT_LEVEL) -> list[Interval]:
    """Percentile intervals of the mean of each column of `values` (n examples x k columns).

    NaN marks a missing value: a resample's mean of a column is taken over the drawn examples
    that have a value in it (a ratio estimator), so columns with different missing examples or
    subsets (golden sets, tags as NaN elsewhere) all share the same resamples.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    boot = PairedBootstrap(x.shape[0], x.shape[1])
    for j in range(x.shape[1]):
        boot.add(x[:, j])
    return boot.intervals(n_resamples=n_resamples, seed=seed, level=level)


def win_rate_interval(outcome: np.ndarray, *, n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = 0, level: float = DEFAULT_LEVEL) -> Interval:
    """Win rate (ties count one half) with its paired-bootstrap interval."""
    return bootstrap_means(win_points(outcome), n_resamples=n_resamples, seed=seed,
                           level=level)[0]


# --- paired tests ----------------------------------------------------------------------------


def sign_test(wins: int, losses: int) -> TestResult:
    """Exact two-sided sign test of P(win) = P(loss); ties carry no information and are dropped."""
    n = wins + losses
    if n == 0:
        return TestResult("sign test", 0.0, 1.0, 0)
    p = min(1.0, 2.0 * float(sps.binom.cdf(min(wins, losses), n, 0.5)))
    return TestResult("sign test", float(wins), p, n)


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> TestResult:
    """Exact McNemar test for paired binary scores: a sign test on the discordant pairs."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a_only = int(np.sum((a[keep] > 0.5) & (b[keep] <= 0.5)))
    b_only = int(np.sum((b[keep] > 0.5) & (a[keep] <= 0.5)))
    result = sign_test(a_only, b_only)
    return TestResult("McNemar (exact)", float(min(a_only, b_only)), result.p_value, result.n)


def _wilcoxon_null_pmf(n: int) -> np.ndarray:
    """Exact null distribution of W+ for n untied non-zero differences (counting subsets)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return counts / counts.sum()


def wilcoxon_signed_rank(d: np.ndarray) -> TestResult:
    """Two-sided Wilcoxon signed-rank test of paired differences `d` (zeros dropped, Wilcoxon's
    convention). Exact when at most 50 differences, none zero or tied in magnitude; otherwise
    the normal approximation with the tie correction (no continuity correction), as scipy."""
    d = np.asarray(d, dtype=float)
    d = d[~np.isnan(d)]
    n_all = d.size
    has_zeros = bool(np.any(d == 0))
    d = d[d != 0]
    n = d.size
    if n == 0:
        return TestResult("Wilcoxon signed-rank", 0.0, 1.0, 0)
    ranks = sps.rankdata(np.abs(d))
    r_plus = float(ranks[d > 0].sum())
    r_minus = float(ranks[d < 0].sum())
    _, tie_sizes = np.unique(np.abs(d), return_counts=True)
    has_ties = bool(np.any(tie_sizes > 1))
    if n_all <= 50 and not (has_ties or has_zeros):
        pmf = _wilcoxon_null_pmf(n)
        k = round(r_plus)
        p = 2.0 * min(pmf[k:].sum(), pmf[:k + 1].sum())
    else:
        mean = n * (n + 1) / 4.0
        var = (n * (n + 1) * (2 * n + 1) - np.sum(tie_sizes**3 - tie_sizes) / 2.0) / 24.0
        z = (r_plus - mean) / math.sqrt(var) if var > 0 else 0.0
        p = 2.0 * float(sps.norm.sf(abs(z)))
    return TestResult("Wilcoxon signed-rank", min(r_plus, r_minus), float(min(1.0, p)), n)


def permutation_test(d: np.ndarray, *, n_resamples: int = DEFAULT_RESAMPLES,
                     seed: int = 0) -> TestResult:
    """Two-sided sign-flip permutation test of mean(d) = 0 for paired differences.

    Exact (all 2^n sign patterns) when 2^n <= n_resamples, else Monte Carlo with the +1
    correction; two-sided p is twice the smaller one-sided p, as scipy.stats.permutation_test.
    """
    d = np.asarray(d, dtype=float)
    d = d[~np.isnan(d)]
    n = d.size
    if n == 0:
        return TestResult("permutation", 0.0, 1.0, 0)
    observed = float(d.mean())
    if 2**n <= n_resamples:
        patterns = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)
        null = ((1.0 - 2.0 * patterns) @ d) / n
        adjustment = 0
    else:
        rng = np.random.default_rng(seed)
        null = np.empty(n_resamples)
        chunk = max(1, _CHUNK_ELEMENTS // n)
        for start in range(0, n_resamples, chunk):
            m = min(chunk, n_resamples - start)
            signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
            null[start:start + m] = (signs.astype(np.float32) @ d.astype(np.float32)) / n
        adjustment = 1
    # Relative tolerance, so a null statistic equal to the observed one counts as extreme.
    gamma = abs(observed) * 1e-10 + 1e-14
    less = (np.sum(null <= observed + gamma) + adjustment) / (null.size + adjustment)
    greater = (np.sum(null >= observed - gamma) + adjustment) / (null.size + adjustment)
    return TestResult("permutation", observed, float(min(1.0, 2 * min(less, greater))), n)


def paired_test(a: np.ndarray, b: np.ndarray, *, binary: bool,
                method: str = "wilcoxon") -> TestResult:
    """The paired test for two arms' scores: exact McNemar for binary scores, else Wilcoxon
    signed-rank (or a sign-flip permutation test with method="permutation")."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if binary:
        return mcnemar_exact(a, b)
    if method == "permutation":
        return permutation_test(a - b)
    return wilcoxon_signed_rank(a - b)


# --- how many more examples ------------------------------------------------------------------


def examples_needed(interval: Interval, n: int, target: float, *,
                    power: float = DEFAULT_POWER) -> int | None:
    """Total examples at which the interval would likely (with `power`) exclude `target`, if
    the observed estimate is the truth; None when the estimate sits on the target (no finite
    number would settle it) or the interval carries no spread.

    The interval's width shrinks as 1/sqrt(n), so from the observed standard error
    se = half_width / z: n' = n * ((z_level + z_power) * se / |estimate - target|)^2.
    """
    z_level = float(sps.norm.ppf(1 - (1 - interval.level) / 2))
    z_power = float(sps.norm.ppf(power))
    se = interval.half_width / z_level
    gap = abs(interval.estimate - target)
    if n <= 0 or not np.isfinite(se) or se <= 0 or gap < 1e-9:
        return None
    return max(n + 1, math.ceil(n * ((z_level + z_power) * se / gap) ** 2))
