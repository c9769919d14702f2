"""The arm interface: Example -> Request. Arms never generate; engines do."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from harness.types import Example, GenerationParams, Message, Request


class Arm(ABC):
    """One way of answering: a prompt, a prompt plus retrieval, an adapter, ..."""

    kind: str = "arm"

    def __init__(self, name: str, params: GenerationParams):
        self.name = name
        self.params = params

    @abstractmethod
    def messages(self, example: Example) -> list[Message]:
        """The full conversation sent for this example."""

    def build(self, example: Example) -> Request:
        return Request(messages=tuple(self.messages(example)), params=self.params)

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this arm."""
        return {"name": self.name, "kind": self.kind, "params": self.params.as_dict()}
