"""The strong-prompt baseline: a system prompt and few-shot turns before the question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.arms.base import Arm
from harness.types import Example, GenerationParams, Message, stable_hash


class PromptArm(Arm):
    kind = "prompt"

    def __init__(self, name: str, params: GenerationParams, system_prompt: str | None = None,
                 few_shot: Sequence[tuple[str, str]] = ()):
        super().__init__(name, params)
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

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "system_prompt": self.system_prompt,
            "few_shot": len(self.few_shot),
            "few_shot_hash": stable_hash(self.few_shot)[:16],
        }
