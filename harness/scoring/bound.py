"""A scorer built with its options: one `score_batch` call whatever the scorer's shape.

The runner always scores in batches of Samples; per-example scorers are looped here, and
scorers written in the older two-argument form `(example, output)` are called that way. A
sample whose arm failed (the request errored after its retries) is never shown to the scorer:
it scores the scorer's worst value, so an arm that fails cannot win. Every value is checked
against the scorer's declared range, because stats and gates trust that range.

A scorer that raises on one sample (anything but a HarnessError, which is the user's input
being wrong and stops the run) records an evaluator error for that sample instead of killing
the run: a Score with `error` set. A batch scorer that raises is retried one sample at a time,
so only the samples it really fails on are lost; a batch scorer can also mark one sample
itself by returning `Score(0.0, error="why")`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from harness.errors import ConfigError, HarnessError
from harness.scoring.info import ScorerInfo
from harness.types import Example, Response, Sample, Score

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

    @cached_property
    def takes_sample(self) -> bool:
        """True for `(sample)` / `(samples)` callables; False for `(example, output)`."""
        try:
            params = [p for p in inspect.signature(self.fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                      and p.default is p.empty]
        except (TypeError, ValueError):
            return True
        return len(params) < 2

    def score_samples(self, samples: Sequence[Sample]) -> list[Score]:
        samples = list(samples)
        scores: list[Score | None] = [None] * len(samples)
        live = [i for i, s in enumerate(samples) if not s.response.failed]
        for i, s in enumerate(samples):
            if s.response.failed:
                scores[i] = Score(self.info.worst, f"arm error: {s.response.error}")
        if live:
            for i, score in zip(live, self._call([samples[i] for i in live]), strict=True):
                scores[i] = score
        return [s for s in scores if s is not None]

    def _call(self, samples: list[Sample]) -> list[Score]:
        if self.info.batch:
            try:
                raw = self._call_batch(samples)
            except HarnessError:
                raise
            except Exception:
                # One bad sample must not cost the others: find it by scoring one at a time.
                raw = [self._guarded(lambda s=s: self._call_batch([s])[0]) for s in samples]
        elif self.takes_sample:
            raw = [self._guarded(lambda s=s: self.fn(s)) for s in samples]
        else:
            raw = [self._guarded(lambda s=s: self.fn(s.example, s.output)) for s in samples]
        return [self._checked(value) for value in raw]

    def _call_batch(self, samples: list[Sample]) -> list[Any]:
        if self.takes_sample:
            raw = list(self.fn(samples))
        else:
            raw = list(self.fn([s.example for s in samples], [s.output for s in samples]))
        if len(raw) != len(samples):
            raise ConfigError(
                f"scorer {self.name!r} returned {len(raw)} scores for {len(samples)} outputs"
            )
        return raw

    @staticmethod
    def _guarded(call: Callable[[], Any]) -> Any:
        """The scorer's result, or an evaluator error naming what it raised."""
        try:
            return call()
        except HarnessError:
            raise
        except Exception as exc:
            return Score(math.nan, error=evaluator_error_text(exc))

    def score_batch(self, examples: Sequence[Example], outputs: Sequence[str]) -> list[Score]:
        """Score plain outputs (no request, no context): a convenience for tests and notebooks."""
        examples, outputs = list(examples), list(outputs)
        if len(examples) != len(outputs):
            raise ValueError(f"{len(examples)} examples but {len(outputs)} outputs")
        return self.score_samples([Sample(e, Response(o)) for e, o in
                                   zip(examples, outputs, strict=True)])

    def score(self, example: Example, output: str) -> Score:
        return self.score_batch([example], [output])[0]

    def _checked(self, result: Any) -> Score:
        if isinstance(result, Score) and result.error is not None:
            return Score(math.nan, result.explanation, result.answer, str(result.error))
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


def evaluator_error_text(exc: BaseException, limit: int = 300) -> str:
    """`ValueError: the message`, on one line and clipped: what scores.jsonl keeps."""
    text = f"{type(exc).__name__}: {exc}".replace("\r", " ").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
