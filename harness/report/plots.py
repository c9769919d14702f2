"""Forest plots of intervals as PNG bytes: pure (no files, no pyplot global state)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


@dataclass(frozen=True)
class Row:
    label: str
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Panel:
    title: str
    xlabel: str
    rows: tuple[Row, ...]
    reference: float  # the "no difference" line
    bar: float | None = None  # a gate's bar, drawn dashed

    def good(self, row: Row) -> bool | None:
        """True when the interval is clear of the reference on the good side, False on the bad."""
        if row.low > self.reference:
            return True
        if row.high < self.reference:
            return False
        return None


_COLOURS = {True: "#1a7f37", False: "#cf222e", None: "#57606a"}

# The layout, in inches. Laid out by hand: tight_layout measured every label by drawing the
# figure once more, a third of the plot's cost at the end of a run.
_WIDTH, _SUPTITLE = 7.5, 0.4
_ABOVE, _BELOW, _RIGHT = 0.3, 0.5, 0.2  # a panel's title; its x ticks and label; the margin
_LABEL_CHAR = 0.059  # the width of a character of an 8-point y label (DejaVu Sans, average)


def _axes(fig: Figure, panels: list[Panel], heights: list[float], titled: bool) -> list:
    """One axes per panel, stacked top to bottom, the y labels' width on the left."""
    longest = max((len(r.label) for p in panels for r in p.rows), default=0)
    left = min(0.6, (0.25 + _LABEL_CHAR * longest) / _WIDTH)
    right = 1 - _RIGHT / _WIDTH
    total = fig.get_figheight()
    top = total - (_SUPTITLE if titled else 0)
    axes = []
    for height in heights:
        bottom = top - height
        axes.append(fig.add_axes((left, (bottom + _BELOW) / total, right - left,
                                  (height - _ABOVE - _BELOW) / total)))
        top = bottom
    return axes


def forest_png(panels: list[Panel], title: str = "") -> bytes:
    """One column of forest plots, one row per interval; green/red when clear of the line."""
    panels = [p for p in panels if p.rows]
    if not panels:
        panels = [Panel("nothing to plot", "", (), 0.0)]
    heights = [max(1.2, 0.32 * len(p.rows) + 0.9) for p in panels]
    fig = Figure(figsize=(_WIDTH, sum(heights) + (_SUPTITLE if title else 0)), dpi=110)
    FigureCanvasAgg(fig)
    for ax, panel in zip(_axes(fig, panels, heights, bool(title)), panels, strict=True):
        n = len(panel.rows)
        for y, row in enumerate(reversed(panel.rows)):
            if not (math.isfinite(row.low) and math.isfinite(row.high)):
                continue
            colour = _COLOURS[panel.good(row)]
            ax.plot([row.low, row.high], [y, y], color=colour, linewidth=2.2)
            ax.plot([row.estimate], [y], "o", color=colour, markersize=5)
        ax.axvline(panel.reference, color="#24292f", linewidth=0.9)
        if panel.bar is not None and panel.bar != panel.reference:
            ax.axvline(panel.bar, color="#9a6700", linewidth=0.9, linestyle="--")
        ax.set_yticks(range(n), [r.label for r in reversed(panel.rows)], fontsize=8)
        ax.set_ylim(-0.7, max(n, 1) - 0.3)
        # The title starts at the figure's left edge, over the labels: it may be the longer.
        fig.text(0.1 / _WIDTH, ax.get_position().y1 + 0.06 / fig.get_figheight(), panel.title,
                 fontsize=9, ha="left", va="bottom")
        ax.set_xlabel(panel.xlabel, fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / fig.get_figheight(), va="top")
    buffer = io.BytesIO()
    # No Software/date metadata: the same run renders to the same bytes.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
