"""The `prompt` arm kind: the strong-prompt baseline, a system prompt and few-shot turns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from harness.arms import ARMS
from harness.arms.base import DEFAULT_ENGINE, Arm, ArmContext, ArmSpec, Loc
from harness.spec.base import Strict
from harness.types import Example, GenerationParams, Message, stable_hash


class FewShot(Strict):
    user: str
    assistant: str


@ARMS.register("prompt")
class PromptArmSpec(ArmSpec):
    kind: Literal["prompt"]
    system_prompt: str | None = None
    system_prompt_file: str | None = None
    few_shot: list[FewShot] = Field(default_factory=list)
    few_shot_file: str | None = Field(None, description="JSONL/CSV in a golden-set format")
    few_shot_limit: int | None = Field(None, ge=0)

    def problems(self, suite: Any) -> list[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        for field in ("system_prompt_file", "few_shot_file"):
            value = getattr(self, field)
            if value and not suite.resolve(value).is_file():
                out.append(((field,), f"file not found: {suite.resolve(value)}"))
        return out

    def system_text(self, ctx: ArmContext) -> str | None:
        if self.system_prompt_file:
            return ctx.resolve(self.system_prompt_file).read_text(encoding="utf-8").strip()
        return self.system_prompt

    def shots(self, ctx: ArmContext) -> list[tuple[str, str]]:
        shots = [(s.user, s.assistant) for s in self.few_shot]
        if self.few_shot_file:
            from harness.golden import load_examples

            for example in load_examples(ctx.resolve(self.few_shot_file)):
                shots.append((example.user_text, example.reference))
        if self.few_shot_limit is not None:
            shots = shots[: self.few_shot_limit]
        return shots

    def build(self, ctx: ArmContext) -> Arm:
        return PromptArm(self.name, ctx.params(self), system_prompt=self.system_text(ctx),
                         few_shot=self.shots(ctx), engine=self.engine or DEFAULT_ENGINE)


class PromptArm(Arm):
    kind = "prompt"

    def __init__(self, name: str, params: GenerationParams, system_prompt: str | None = None,
                 few_shot: Sequence[tuple[str, str]] = (), engine: str = DEFAULT_ENGINE):
        super().__init__(name, params, engine)
        self.system_prompt = system_prompt
        self.few_shot = list(few_shot)

    def messages(self, example: Example) -> list[Message]:
        turns = [dict(m) for m in example.messages]
        # The example's own system turn (if any) stays, after the arm's instructions.
        own_system = [m["content"] for m in turns if m["role"] == "system"]
        conversation = [m for m in turns if m["role"] != "system"]
        system_parts = [p for p in [self.system_prompt, *own_system] if p]
        out: list[Message] = []
        if system_parts:
            out.append({"role": "system", "content": "\n\n".join(system_parts)})
        for user, assistant in self.few_shot:
            out.append({"role": "user", "content": user})
            out.append({"role": "assistant", "content": assistant})
        out.extend(conversation)
        return out

    def with_params(self, params: GenerationParams) -> PromptArm:
        return PromptArm(self.name, params, self.system_prompt, self.few_shot, self.engine)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "system_prompt": self.system_prompt,
            "few_shot": len(self.few_shot),
            "few_shot_hash": stable_hash(self.few_shot)[:16],
        }
