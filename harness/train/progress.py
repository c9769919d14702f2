"""Live training display: a rich progress bar with loss, learning rate and tokens/s.

`TokenMeter` counts the real (non-padding) tokens the trainer consumes; the bar and the
manifest's throughput figures both read it, so the number a user sees is the one recorded.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from transformers import TrainerCallback


class TokenMeter:
    """Real tokens seen and optimizer steps taken in this process (not before a resume)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.steps = 0
        self.started: float | None = None

    def start(self) -> None:
        self.started = time.perf_counter()

    def add(self, n_tokens: int) -> None:
        self.tokens += n_tokens

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started if self.started is not None else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def s_per_step(self) -> float:
        return self.elapsed / self.steps if self.steps else 0.0


class RichProgressCallback(TrainerCallback):
    """Replaces transformers' tqdm bar; also records what the meter needs per step."""

    def __init__(self, meter: TokenMeter, console: Console | None = None,
                 show: bool = True) -> None:
        self.meter = meter
        self.console = console or Console(stderr=True)
        self.show = show
        self.progress: Progress | None = None
        self.task: Any = None
        self.loss = float("nan")
        self.eval_loss: float | None = None
        self.lr = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.meter.start()
        if not self.show:
            return
        self.progress = Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("lr {task.fields[lr]}"),
            TextColumn("{task.fields[tps]} tok/s"), TextColumn("{task.fields[eval]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False)
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps,
                                           completed=state.global_step, **self._fields())

    def on_step_end(self, args, state, control, **kwargs):
        self.meter.steps += 1
        self._refresh(state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.loss = float(logs["loss"])
        if "learning_rate" in logs:
            self.lr = float(logs["learning_rate"])
        if "eval_loss" in logs:
            self.eval_loss = float(logs["eval_loss"])
        self._refresh(state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _fields(self) -> dict[str, str]:
        return {"loss": f"{self.loss:.3f}", "lr": f"{self.lr:.1e}",
                "tps": f"{self.meter.tokens_per_s:,.0f}",
                "eval": f"eval {self.eval_loss:.3f}" if self.eval_loss is not None else ""}

    def _refresh(self, step: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, **self._fields())
