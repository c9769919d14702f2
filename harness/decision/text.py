"""Short number formats shared by gate messages, the console summary and the reports."""

from __future__ import annotations

import math

from harness.stats import Interval


def num(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def interval(iv: Interval, digits: int = 2) -> str:
    return f"{num(iv.estimate, digits)} [{num(iv.low, digits)}, {num(iv.high, digits)}]"


def pts(x: float) -> str:
    """A difference in fractions of a range as signed points: 0.023 -> "+2.3 pts"."""
    return "n/a" if not math.isfinite(x) else f"{x * 100:+.1f} pts"


def pts_interval(iv: Interval) -> str:
    if not math.isfinite(iv.estimate):
        return "n/a"
    return f"{iv.estimate * 100:+.1f} pts [{iv.low * 100:+.1f}, {iv.high * 100:+.1f}]"


def points(x: float) -> str:
    """An allowance as unsigned points: 0.02 -> "2 pts"."""
    return f"{x * 100:g} pts"


def pvalue(p: float) -> str:
    if not math.isfinite(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
