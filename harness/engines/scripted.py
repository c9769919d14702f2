"""The `scripted` engine kind: canned answers, for fast tests of the runner, arms and reports.

Like inspect's mock model or lm-eval's dummy model, it generates nothing: each request gets the
reply its last user turn is mapped to, or the `default` template. It is a real, registered
engine (cached, resumable, counted), so the runner's wiring can be tested in milliseconds; it
never stands in for a claim about generation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.engines import ENGINES
from harness.engines.base import (
    Engine,
    EngineContext,
    EngineSpec,
    ProgressCallback,
    ResolvedEngine,
)
from harness.types import Request, Response, stable_hash


@ENGINES.register("scripted")
class ScriptedEngineSpec(EngineSpec):
    kind: Literal["scripted"]
    replies: dict[str, str] = Field(default_factory=dict, description="last user turn -> reply")
    default: str = Field("{user}", description="reply for other requests; {user}, {system} and "
                         "{adapter} are filled in")
    adapter_default: str | None = Field(None, description="reply template for requests with an "
                                        "adapter (default: `default`)")
    errors: list[str] = Field(default_factory=list, description="last user turns that fail "
                              "(an arm error for that example)")
    delay_s: float = Field(0.0, ge=0.0, description="seconds per request (to test interrupts)")
    label: str = Field("scripted", description="the model name reports show")

    serves_adapters: ClassVar[bool] = True

    def resolve(self, ctx: EngineContext) -> ResolvedEngine:
        script = self.model_dump(exclude={"kind", "cost", "delay_s", "label"})
        identity = {"kind": "scripted", "script": stable_hash(script)[:16]}
        return ResolvedEngine(ctx.name, "scripted", identity, self.label)

    def build(self, ctx: EngineContext, resolved: ResolvedEngine) -> Engine:
        return ScriptedEngine(self, resolved.identity)


class ScriptedEngine(Engine):
    kind = "scripted"

    def __init__(self, spec: ScriptedEngineSpec, identity: dict[str, Any]):
        self.spec = spec
        self._identity = identity
        self.calls = 0

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def generate(self, requests: Sequence[Request],
                 progress: ProgressCallback | None = None) -> list[Response]:
        out = []
        for index, request in enumerate(requests):
            if self.spec.delay_s:
                time.sleep(self.spec.delay_s)
            response = self.answer(request)
            self.calls += 1
            out.append(response)
            if progress is not None:
                progress(index, response)
        return out

    def answer(self, request: Request) -> Response:
        user = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), "")
        system = next((m["content"] for m in request.messages if m["role"] == "system"), "")
        prompt_tokens = sum(len(m["content"].split()) for m in request.messages)
        if user in self.spec.errors:
            return Response(text="", prompt_tokens=prompt_tokens, finish_reason="error",
                            error="scripted failure")
        template = self.spec.default
        if request.adapter is not None and self.spec.adapter_default is not None:
            template = self.spec.adapter_default
        text = self.spec.replies.get(user)
        if text is None:
            adapter = request.adapter.name if request.adapter else ""
            text = template.replace("{user}", user).replace("{system}", system).replace(
                "{adapter}", adapter)
        return Response(text=text, prompt_tokens=prompt_tokens,
                        completion_tokens=len(text.split()), latency_s=0.0)
