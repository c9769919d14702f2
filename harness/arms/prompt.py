"""The `prompt` arm kind: the strong-prompt baseline, a system prompt and few-shot turns, and
optionally constrained decoding (`response_format`: a JSON Schema or a regex the output must
match, enforced by the engine while it generates).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.arms import ARMS
from harness.arms.base import DEFAULT_ENGINE, Arm, ArmContext, ArmSpec, Loc, Roles
from harness.spec.base import Strict
from harness.types import Example, GenerationParams, Message, Request, ResponseFormat, stable_hash


class FewShot(Strict):
    user: str
    assistant: str


class ResponseFormatSpec(Strict):
    """Exactly one of `json_schema`, `json_schema_file`, `regex`."""

    json_schema: dict[str, Any] | None = Field(None, description="a JSON Schema the output "
                                               "must be valid against")
    json_schema_file: str | None = Field(None, description="a JSON file holding the schema "
                                         "(relative to the suite)")
    regex: str | None = Field(None, description="a regular expression the whole output must "
                              "match")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the "
                             "schema's name, for servers that want one (default 'response')")

    @model_validator(mode="after")
    def _exactly_one(self) -> ResponseFormatSpec:
        given = [f for f in ("json_schema", "json_schema_file", "regex")
                 if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("expected exactly one of json_schema, json_schema_file, regex; "
                             f"got {', '.join(given) or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return "regex" if self.regex is not None else "json_schema"

    def problems(self, suite: Any) -> list[tuple[Loc, str]]:
        from harness.arms._response_format import read_schema_file, regex_problem, schema_problem
        from harness.errors import ConfigError

        if self.regex is not None:
            problem = regex_problem(self.regex)
            return [(("regex",), problem)] if problem else []
        if self.json_schema_file is not None:
            try:
                schema = read_schema_file(suite.resolve(self.json_schema_file))
            except ConfigError as exc:
                return [(("json_schema_file",), exc.message)]
            problem = schema_problem(schema)
            where = f"{suite.resolve(self.json_schema_file)}: "
            return [(("json_schema_file",), where + problem)] if problem else []
        problem = schema_problem(self.json_schema)
        return [(("json_schema",), problem)] if problem else []

    def build(self, ctx: Any) -> ResponseFormat:
        if self.regex is not None:
            return ResponseFormat(regex=self.regex, name=self.name or "response")
        schema = self.json_schema
        if self.json_schema_file is not None:
            from harness.arms._response_format import read_schema_file

            schema = read_schema_file(ctx.resolve(self.json_schema_file))
        return ResponseFormat(json_schema=schema, name=self.name or "response")


@ARMS.register("prompt")
class PromptArmSpec(ArmSpec):
    kind: Literal["prompt"]
    system_prompt: str | None = None
    system_prompt_file: str | None = None
    few_shot: list[FewShot] = Field(default_factory=list)
    few_shot_file: str | None = Field(None, description="JSONL/CSV in a golden-set format")
    few_shot_limit: int | None = Field(None, ge=0)
    response_format: ResponseFormatSpec | None = Field(None, description="constrained "
                                                       "decoding: {json_schema: {...}}, "
                                                       "{json_schema_file: path} or {regex: ...}")

    def output_constraint(self) -> str | None:
        return self.response_format.kind if self.response_format else None

    def problems(self, suite: Any) -> list[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        for field in ("system_prompt_file", "few_shot_file"):
            value = getattr(self, field)
            if value and not suite.resolve(value).is_file():
                out.append(((field,), f"file not found: {suite.resolve(value)}"))
        if self.response_format is not None:
            out += [(("response_format", *loc), message)
                    for loc, message in self.response_format.problems(suite)]
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
        response_format = self.response_format.build(ctx) if self.response_format else None
        return PromptArm(self.name, ctx.params(self), system_prompt=self.system_text(ctx),
                         few_shot=self.shots(ctx), engine=self.engine or DEFAULT_ENGINE,
                         response_format=response_format)


class PromptArm(Arm):
    kind = "prompt"

    def __init__(self, name: str, params: GenerationParams, system_prompt: str | None = None,
                 few_shot: Sequence[tuple[str, str]] = (), engine: str = DEFAULT_ENGINE,
                 response_format: ResponseFormat | None = None):
        super().__init__(name, params, engine)
        self.system_prompt = system_prompt
        self.few_shot = list(few_shot)
        self.response_format = response_format

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

    def build(self, example: Example) -> Request:
        return Request(messages=tuple(self.messages(example)), params=self.params,
                       response_format=self.response_format)

    @property
    def roles(self) -> Roles:
        return Roles(constrained=self.response_format is not None)

    def with_params(self, params: GenerationParams) -> PromptArm:
        return PromptArm(self.name, params, self.system_prompt, self.few_shot, self.engine,
                         self.response_format)

    def describe(self) -> dict[str, Any]:
        out = {
            **super().describe(),
            "system_prompt": self.system_prompt,
            "few_shot": len(self.few_shot),
            "few_shot_hash": stable_hash(self.few_shot)[:16],
        }
        if self.response_format is not None:  # only when set: other arms keep their identity
            out["response_format"] = describe_response_format(self.response_format)
        return out


def describe_response_format(rf: ResponseFormat) -> dict[str, Any]:
    """What the manifest (and so the run's input identity and the report) says of it."""
    out: dict[str, Any] = {"kind": rf.kind, "hash": stable_hash(rf.as_dict())[:16]}
    if rf.regex is not None:
        out["regex"] = rf.regex
    else:
        out["name"] = rf.name
    return out
