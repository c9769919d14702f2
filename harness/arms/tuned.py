"""The `tuned` arm kind: another arm's messages, answered by a LoRA adapter.

Composition rather than inheritance: a tuned arm wraps any message-building arm (the minimal
prompt the adapter was trained with, a prompt arm, and later a RAG arm for tuned+RAG) and only
adds the adapter to the request. The adapter must have been trained on the base model of the
engine that serves it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.arms import ARMS
from harness.arms.base import DEFAULT_ENGINE, Arm, ArmContext, ArmSpec, Loc, Roles
from harness.errors import ModelError
from harness.types import AdapterRef, Example, Message, Request

MINIMAL = "minimal"


@ARMS.register("tuned")
class TunedArmSpec(ArmSpec):
    kind: Literal["tuned"]
    adapter: str = Field(description="adapter folder (adapter_config.json + weights)")
    prompt: str = Field(MINIMAL, description='"minimal": the system prompt the adapter was '
                        "trained with and the user turn; or the name of an arm to reuse")

    uses_adapter: ClassVar[bool] = True

    def arm_references(self) -> list[tuple[str, str]]:
        return [] if self.prompt == MINIMAL else [("prompt", self.prompt)]

    def problems(self, suite: Any) -> list[tuple[Loc, str]]:
        folder = suite.resolve(self.adapter)
        if not folder.is_dir():
            return [(("adapter",), f"adapter folder not found: {folder}", ModelError)]
        return []

    def build(self, ctx: ArmContext) -> Arm:
        from harness.adapters_io import load_adapter_ref

        folder = ctx.resolve(self.adapter)
        ref = load_adapter_ref(folder, name=self.name)
        engine = ctx.engine_of(self)
        if ref.base_model and engine.model is not None and not engine.model.accepts(
                ref.base_model):
            raise ModelError(
                f"adapter {folder} was trained on base model '{ref.base_model}', but engine "
                f"'{engine.name}' of arm '{self.name}' serves '{engine.model.identity}'")
        if self.prompt == MINIMAL:
            from harness.arms.prompt import PromptArm

            inner: Arm = PromptArm(f"{self.name}:minimal", ctx.params(self),
                                   system_prompt=trained_system_prompt(folder))
        else:
            inner = ctx.arm(self.prompt)
            if self.generation is not None and hasattr(inner, "with_params"):
                inner = inner.with_params(self.generation.params())
        return TunedArm(self.name, ref, inner, engine=self.engine or DEFAULT_ENGINE)


class TunedArm(Arm):
    kind = "tuned"

    def __init__(self, name: str, adapter: AdapterRef, inner: Arm,
                 engine: str = DEFAULT_ENGINE):
        super().__init__(name, inner.params, engine)
        self.adapter = adapter
        self.inner = inner

    def messages(self, example: Example) -> list[Message]:
        return self.inner.messages(example)

    def build(self, example: Example) -> Request:
        return replace(self.inner.build(example), adapter=self.adapter)

    def prepare(self, examples: Sequence[Example]) -> None:
        self.inner.prepare(examples)

    @property
    def roles(self) -> Roles:
        inner = self.inner.roles
        return Roles(has_adapter=True, has_retrieval=inner.has_retrieval,
                     constrained=inner.constrained)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "adapter": {"name": self.adapter.name, "path": self.adapter.path,
                        "content_hash": self.adapter.content_hash,
                        "base_model": self.adapter.base_model, "rank": self.adapter.rank},
            "prompt": {"kind": self.inner.kind, **self.inner.describe()},
        }


def trained_system_prompt(adapter_dir: Path) -> str | None:
    """The system prompt the adapter was trained with, from its manifest (None if unknown)."""
    from harness.adapters_io import MANIFEST_FILE

    manifest = adapter_dir / MANIFEST_FILE
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    return data.get("system_prompt") or None
