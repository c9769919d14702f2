"""The tuned arm: another arm's messages, answered by a LoRA adapter.

Composition rather than inheritance: a tuned arm wraps any message-building arm (the minimal
prompt the adapter was trained with, a prompt arm, and later a RAG arm for tuned+RAG) and only
adds the adapter to the request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.arms.base import Arm
from harness.types import AdapterRef, Example, Message, Request


class TunedArm(Arm):
    kind = "tuned"

    def __init__(self, name: str, adapter: AdapterRef, inner: Arm):
        super().__init__(name, inner.params)
        self.adapter = adapter
        self.inner = inner

    def messages(self, example: Example) -> list[Message]:
        return self.inner.messages(example)

    def build(self, example: Example) -> Request:
        return replace(self.inner.build(example), adapter=self.adapter)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "adapter": {"name": self.adapter.name, "path": self.adapter.path,
                        "content_hash": self.adapter.content_hash,
                        "base_model": self.adapter.base_model, "rank": self.adapter.rank},
            "prompt": self.inner.describe(),
        }
