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


def forest_png(panels: list[Panel], title: str = "") -> bytes:
    """One column of forest plots, one row per interval; green/red when clear of the line."""
    panels = [p for p in panels if p.rows]
    if not panels:
        panels = [Panel("nothing to plot", "", (), 0.0)]
    heights = [max(1.2, 0.32 * len(p.rows) + 0.9) for p in panels]
    fig = Figure(figsize=(7.5, sum(heights) + (0.4 if title else 0)), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, panel in zip(axes[:, 0], panels, strict=True):
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
        ax.set_title(panel.title, fontsize=9, loc="left")
        ax.set_xlabel(panel.xlabel, fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.set_layout_engine(None)  # laid out: savefig need not draw it once more to lay it out
    buffer = io.BytesIO()
    # No Software/date metadata: the same run renders to the same bytes.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
