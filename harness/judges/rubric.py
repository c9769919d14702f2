"""The `rubric` judge kind: a model scores each arm's answer on a scale, by a rubric.

It is a scorer named after the judge (range = its scale, higher is better): arm tables,
differences, win rates and every gate read it like any other scorer. With several engines
(`engine: [a, b, c]`) it is a panel: each engine votes and `aggregate` combines the votes. The
judging lives in harness/judges/_rubric.py, imported by build().
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from harness.judges import JUDGES
from harness.judges._template import RUBRIC_SYSTEM, RUBRIC_TEMPLATE, RUBRIC_TEMPLATE_WITH_REFERENCE
from harness.spec.judge import PLACEHOLDER, JudgeContext, JudgeSpec

DEFAULT_RUBRIC = "Is the answer correct, complete and helpful for the question asked?"


@JUDGES.register("rubric")
class RubricJudgeSpec(JudgeSpec):
    kind: Literal["rubric"] = "rubric"
    engine: str | list[str] = Field("default", description="the engine the judge runs on, or "
                                    "several (a panel whose votes `aggregate` combines)")
    rubric: str = Field(DEFAULT_RUBRIC, description="what the judge scores by ({rubric})")
    scale: tuple[int, int] = Field((1, 5), description="lowest and highest score, e.g. [1, 5]")
    aggregate: Literal["majority", "median", "mean"] = Field(
        "majority", description="a panel's score: the value more than half the panel gave "
        "(else the median), the median, or the mean")
    arms: list[str] | None = Field(None, description="score only these arms (default: all)")

    placeholders: ClassVar[frozenset[str]] = frozenset(
        {"question", "answer", "reference", "rubric", "scale_min", "scale_max", "context"})

    @field_validator("scale")
    @classmethod
    def _ordered(cls, scale: tuple[int, int]) -> tuple[int, int]:
        if scale[0] >= scale[1]:
            raise ValueError(f"the scale's first number must be below its second, got "
                             f"{list(scale)}")
        return scale

    @field_validator("engine")
    @classmethod
    def _panel_not_empty(cls, engine: str | list[str]) -> str | list[str]:
        if isinstance(engine, list) and not engine:
            raise ValueError("a panel needs at least one engine")
        return engine

    def engine_names(self) -> list[str]:
        return list(self.engine) if isinstance(self.engine, list) else [self.engine]

    def default_template(self) -> str:
        return RUBRIC_TEMPLATE_WITH_REFERENCE if self.reference_guided else RUBRIC_TEMPLATE

    def default_system(self) -> str:
        return RUBRIC_SYSTEM

    def required_placeholders(self) -> set[str]:
        needed = {"question", "answer"}
        if self.reference_guided:
            needed.add("reference")
        if "rubric" in self.model_fields_set:  # a rubric written in the suite must be shown
            needed.add("rubric")
        return needed

    def uses_context(self, base_dir: Path) -> bool:
        """The template shows retrieved passages: only retrieving arms can be judged."""
        try:
            return "context" in PLACEHOLDER.findall(self.template_text(base_dir))
        except (OSError, UnicodeDecodeError):  # a missing file is reported by problems()
            return False

    def build(self, ctx: JudgeContext) -> Any:
        from harness.judges._rubric import RubricJudge

        return RubricJudge(ctx.name, self, self.template_text(ctx.base_dir), self.system_text(),
                           self.identity(ctx.base_dir))
