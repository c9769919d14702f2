"""A scorer built with its options: one `score_batch` call whatever the scorer's shape.

The runner always scores in batches; per-example scorers are looped here. Every value is
checked against the scorer's declared range, because stats and gates trust that range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.scoring.info import ScorerInfo
from harness.types import Example, Score

_TOLERANCE = 1e-6  # float noise (a cosine of 1.0000001) is clamped, not rejected


@dataclass(frozen=True)
class BoundScorer:
    info: ScorerInfo
    fn: Callable[..., Any] = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    kind: str = ""  # what the suite wrote: a name, module:function or file.py:function

    @property
    def name(self) -> str:
        return self.info.name

    def score_batch(self, examples: Sequence[Example], outputs: Sequence[str]) -> list[Score]:
        examples, outputs = list(examples), list(outputs)
        if len(examples) != len(outputs):
            raise ValueError(f"{len(examples)} examples but {len(outputs)} outputs")
        if not examples:
            return []
        if self.info.batch:
            raw = list(self.fn(examples, outputs))
            if len(raw) != len(examples):
                raise ConfigError(
                    f"scorer {self.name!r} returned {len(raw)} scores for {len(examples)} outputs"
                )
        else:
            raw = [
                self.fn(example, output) for example, output in zip(examples, outputs, strict=True)
            ]
        return [self._checked(value) for value in raw]

    def score(self, example: Example, output: str) -> Score:
        return self.score_batch([example], [output])[0]

    def _checked(self, result: Any) -> Score:
        if isinstance(result, Score):
            score = result
        elif isinstance(result, bool):
            score = Score(1.0 if result else 0.0)
        elif isinstance(result, (int, float)):
            score = Score(float(result))
        else:
            raise ConfigError(
                f"scorer {self.name!r} returned a {type(result).__name__}; "
                "expected a Score, a float or a bool"
            )
        lo, hi = self.info.range
        value = float(score.value)
        if not math.isfinite(value) or not lo - _TOLERANCE <= value <= hi + _TOLERANCE:
            raise ConfigError(
                f"scorer {self.name!r} returned {value}, outside its range [{lo:g}, {hi:g}]"
            )
        value = min(max(value, lo), hi)
        if self.info.binary and value not in (lo, hi):
            raise ConfigError(f"scorer {self.name!r} is binary but returned {value}")
        if value != score.value:
            score = Score(value, score.explanation, score.answer)
        return score
