"""The `pairwise` judge kind: a model says which of two arms' answers to the same example is
better, or that they tie.

Every pair is judged in both orders (arm first, then baseline first); the two verdicts must
agree for a win, and any disagreement counts as a tie, so a judge that prefers whatever it reads
first cannot make an arm win (MT-Bench's rule). It judges the pairs that beats gates on it name
(`scorer: <judge>`), and those it lists in `pairs`. Its outcomes are the paired wins, ties and
losses of the decision. The judging lives in harness/judges/_pairwise.py, imported by build().
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.judges import JUDGES
from harness.judges._template import (
    PAIRWISE_SYSTEM,
    PAIRWISE_TEMPLATE,
    PAIRWISE_TEMPLATE_WITH_REFERENCE,
)
from harness.spec.judge import JudgeContext, JudgeSpec, Loc

DEFAULT_CRITERIA = "Prefer the answer that is more correct, complete and helpful."
DEFAULT_MIN_CONSISTENCY = 0.5


@JUDGES.register("pairwise")
class PairwiseJudgeSpec(JudgeSpec):
    kind: Literal["pairwise"]
    criteria: str = Field(DEFAULT_CRITERIA, description="what makes an answer better "
                          "({criteria})")
    pairs: list[tuple[str, str]] = Field(default_factory=list, description="pairs of arms "
                                         "[arm, baseline] to judge besides those its beats "
                                         "gates compare")
    min_consistency: float = Field(DEFAULT_MIN_CONSISTENCY, ge=0.0, le=1.0, description="below "
                                   "this share of pairs judged alike in both orders, the report "
                                   "warns and gates using the judge are inconclusive")
    calibration: str | None = Field(None, description="a JSONL file of {question, answer_a, "
                                    "answer_b, preference: a|b|tie} labelled by people, judged "
                                    "like any pair to measure the judge's agreement with them")
    min_human_agreement: float | None = Field(None, ge=0.0, le=1.0, description="below this "
                                              "agreement with the calibration labels, gates "
                                              "using the judge are inconclusive")

    pairwise: ClassVar[bool] = True
    placeholders: ClassVar[frozenset[str]] = frozenset(
        {"question", "answer_a", "answer_b", "reference", "criteria"})

    def default_template(self) -> str:
        return PAIRWISE_TEMPLATE_WITH_REFERENCE if self.reference_guided else PAIRWISE_TEMPLATE

    def default_system(self) -> str:
        return PAIRWISE_SYSTEM

    def required_placeholders(self) -> set[str]:
        needed = {"question", "answer_a", "answer_b"}
        if self.reference_guided:
            needed.add("reference")
        if "criteria" in self.model_fields_set:
            needed.add("criteria")
        return needed

    def calibration_path(self, base_dir: Path) -> Path | None:
        if self.calibration is None:
            return None
        path = Path(self.calibration).expanduser()
        return path if path.is_absolute() else base_dir / path

    def problems(self, ctx: JudgeContext) -> list[tuple[Loc, str]]:
        problems = super().problems(ctx)
        path = self.calibration_path(ctx.base_dir)
        if path is not None and not path.is_file():
            problems.append((("calibration",), f"calibration file not found: {path}"))
        if self.min_human_agreement is not None and self.calibration is None:
            problems.append((("min_human_agreement",), "needs a `calibration` file of human "
                             "labels to measure agreement on"))
        return problems

    def build(self, ctx: JudgeContext) -> Any:
        from harness.judges._pairwise import PairwiseJudge

        return PairwiseJudge(ctx.name, self, self.template_text(ctx.base_dir),
                             self.system_text(), self.identity(ctx.base_dir), ctx.pairs,
                             self.calibration_path(ctx.base_dir))
