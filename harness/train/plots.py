"""The loss curve of a training run, as a PNG beside the adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_loss(loss_history: list[dict[str, Any]], eval_history: list[dict[str, Any]],
              path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if loss_history:
        ax.plot([h["step"] for h in loss_history], [h["loss"] for h in loss_history],
                label="training loss", color="tab:blue", linewidth=1.2)
    if eval_history:
        ax.plot([h["step"] for h in eval_history], [h["eval_loss"] for h in eval_history],
                label="held-out loss", color="tab:orange", marker="o", linewidth=1.5)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (answer tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
