"""A rubric judge at work: one request per answer (per panel engine), its verdict parsed into a
Score on the judge's scale.

It runs as a batch scorer: the runner's scoring stage hands it a chunk of samples, all of whose
requests go to each engine in one call. An answer the judge gave no readable score for, or a
judge request that failed after its engine's retries, is an evaluator error (Score.error): that
example drops out of this judge for every arm. A panel needs more than half of its engines to
answer; their scores are combined by `aggregate`.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from harness.judges._base import Judge
from harness.judges._inputs import context_text, judged_text, question_text
from harness.judges._parse import JudgeParseError, ParsedScore, clip, parse_score, strip_echo
from harness.judges._template import render
from harness.scoring.bound import BoundScorer
from harness.scoring.info import ScorerInfo
from harness.spec.judge import PLACEHOLDER
from harness.types import GenerationParams, Request, ResponseFormat, Sample, Score


class RubricJudge(Judge):
    pairwise = False

    def __init__(self, name: str, spec: Any, template: str, system: str,
                 identity: dict[str, Any]):
        super().__init__(name, spec, template, system, identity)
        self.low, self.high = (float(v) for v in spec.scale)

    @property
    def info(self) -> ScorerInfo:
        needs = {"engine"} | ({"reference"} if self.spec.reference_guided else set())
        if "context" in PLACEHOLDER.findall(self.template):
            needs.add("context")
        panel = ", ".join(self.engines)
        return ScorerInfo(name=self.name, range=(self.low, self.high), batch=True,
                          description=f"rubric judge on {panel}", needs=frozenset(needs))

    def bound_scorer(self) -> BoundScorer:
        return BoundScorer(info=self.info, fn=self.score_samples, kind="judge:rubric")

    # ---- requests ------------------------------------------------------------------------------

    def prompt(self, sample: Sample) -> str:
        field = self.spec.field
        return render(self.template, {
            "question": question_text(sample.example),
            "answer": judged_text(sample.output, field),
            "reference": judged_text(sample.reference, field),
            "rubric": self.spec.rubric,
            "scale_min": f"{self.low:g}", "scale_max": f"{self.high:g}",
            "context": context_text(sample.contexts),
        })

    def request(self, prompt: str) -> Request:
        spec = self.spec
        fmt = None
        if spec.constrained:
            scores = list(range(int(self.low), int(self.high) + 1))
            fmt = ResponseFormat(name="rubric_verdict", json_schema={
                "type": "object", "additionalProperties": False, "required": ["score", "reason"],
                "properties": {"score": {"type": "integer", "enum": scores},
                               "reason": {"type": "string"}}})
        return Request(messages=({"role": "system", "content": self.system},
                                 {"role": "user", "content": prompt}),
                       params=GenerationParams(max_tokens=spec.max_tokens,
                                               temperature=spec.temperature, seed=spec.seed),
                       response_format=fmt)

    # ---- verdicts ------------------------------------------------------------------------------

    def score_samples(self, samples: list[Sample]) -> list[Score]:
        if self.client is None:
            raise RuntimeError(f"judge {self.name!r} is not bound to the run's engines")
        prompts = [self.prompt(s) for s in samples]
        requests = [self.request(p) for p in prompts]
        answers = {engine: self.client.generate(engine, requests) for engine in self.engines}
        return [self._verdict([answers[e][i] for e in self.engines], prompts[i])
                for i in range(len(samples))]

    def _verdict(self, responses: list[Any], prompt: str) -> Score:
        votes: list[tuple[str, ParsedScore]] = []
        problems: list[str] = []
        panel = len(self.engines) > 1
        for engine, response in zip(self.engines, responses, strict=True):
            who = f"{engine}: " if panel else ""
            if response.failed:
                problems.append(f"{who}the judge request failed: {response.error}")
                continue
            try:
                votes.append((engine, parse_score(strip_echo(response.text, prompt), self.low,
                                                  self.high)))
            except JudgeParseError as exc:
                problems.append(f"{who}{exc}")
        if 2 * len(votes) <= len(self.engines):  # a majority of the panel must answer
            return Score(math.nan, error="; ".join(problems))
        values = [v.value for _, v in votes]
        value = aggregate(values, self.spec.aggregate)
        reason = next((v.reason for _, v in votes if v.value == value and v.reason),
                      votes[0][1].reason)
        if not panel:
            return Score(value, clip(reason, 300))
        listed = ", ".join(f"{e} {v.value:g}" for e, v in votes)
        missing = f"; {len(problems)} without a verdict ({problems[0]})" if problems else ""
        return Score(value, clip(f"{self.spec.aggregate} of {listed}{missing}: {reason}", 300))


def aggregate(values: list[float], how: str) -> float:
    """A panel's score. majority: the value more than half the votes gave, else the lower
    median (a value some judge gave); median; mean."""
    if how == "mean":
        return float(statistics.fmean(values))
    if how == "median":
        return float(statistics.median(values))
    value, count = Counter(values).most_common(1)[0]
    return float(value) if 2 * count > len(values) else float(statistics.median_low(values))
