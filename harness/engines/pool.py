"""The `pool` engine kind: several endpoints serving one model, used as one engine.

    engine:
      kind: pool
      members:
        - {kind: vllm, mode: attached, url: http://gpu-a:8000, concurrency: 64}
        - {kind: vllm, mode: attached, url: http://gpu-b:8000, concurrency: 64}

Members are engines of a kind that is one endpoint (`openai`, `vllm`: their config says
`poolable`), each with its own concurrency bound; a member with a list of URLs counts as one
member per URL, and so does `url: [...]` on an openai/vllm engine without a pool around it.
Every member must resolve to the same identity (same kind, model, weights): the pool's cache
identity is that one, so which replica answered never changes a cache key, and a run on a pool
shares its cache with a run on any one of its replicas. Scheduling, adapter affinity and
failover are in harness/engines/_pool.py; the how-to is docs/scale.md.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainValidator,
    SerializeAsAny,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from harness.engines import ENGINES
from harness.engines.base import Engine, EngineContext, EngineSpec, ResolvedEngine
from harness.errors import ConfigError

MEMBER_SCHEMA = {"type": "object", "required": ["kind"], "description": "an engine that is "
                 "one endpoint (kind openai or vllm), with its url and concurrency"}


def _poolable_kinds() -> list[str]:
    return [k for k, config in ENGINES.kinds().items() if getattr(config, "poolable", False)]


def _member(value: Any) -> EngineSpec:
    """A member's config, validated as its own kind: its errors keep their place in the file."""
    if isinstance(value, EngineSpec):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError("member_type", "expected an engine (a mapping with a kind: "
                                  "{kinds})", {"kinds": ", ".join(_poolable_kinds())})
    kind = value.get("kind")
    kinds = ENGINES.kinds()
    if kind not in kinds:
        raise PydanticCustomError("unknown_kind", "unknown engine kind", {"what": "engine"})
    config = kinds[kind]
    if not getattr(config, "poolable", False):
        raise _error_at(("kind",), kind, f"an engine of kind '{kind}' cannot be a pool member; "
                        f"members are endpoints: {', '.join(_poolable_kinds())}")
    try:
        return config.model_validate(value)
    except ValidationError as exc:
        raise _with_field_hints(exc, config) from None


def _error_at(loc: tuple[Any, ...], value: Any, message: str) -> ValidationError:
    return ValidationError.from_exception_data("pool member", [
        {"type": "value_error", "loc": loc, "input": value,
         "ctx": {"error": ValueError(message)}}])


def _with_field_hints(exc: ValidationError, config: type[EngineSpec]) -> ValidationError:
    """The member's own errors; an unknown field gets a did-you-mean from the member's kind
    (the suite's error printer only knows the pool's fields)."""
    errors = exc.errors()
    if errors[0]["type"] != "extra_forbidden":
        return exc
    from harness.pydantic_paths import user_location

    lines = []
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            _, owner = user_location(config, loc)
            allowed = sorted(owner.model_fields) if owner is not None else []
            hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            message = f"unknown field '{loc[-1]}'" + (
                f" (did you mean '{hint[0]}'?)" if hint else
                f"; expected one of: {', '.join(allowed)}" if allowed else "")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        lines.append({"type": "value_error", "loc": loc, "input": error.get("input"),
                      "ctx": {"error": ValueError(message)}})
    return ValidationError.from_exception_data("pool member", lines)


# Serialized as the member's own kind (the suite's hash covers every member field).
Member = Annotated[SerializeAsAny[EngineSpec], PlainValidator(_member),
                   WithJsonSchema(MEMBER_SCHEMA)]


@ENGINES.register("pool")
class PoolEngineSpec(EngineSpec):
    kind: Literal["pool"]
    members: list[Member] = Field(description="the endpoints, replicas of one model: engines "
                                  "of kind openai or vllm, each with its url(s) and concurrency")

    @field_validator("members")
    @classmethod
    def _not_empty(cls, members: list[EngineSpec]) -> list[EngineSpec]:
        if not members:
            raise ValueError("a pool needs at least one member: a list of engines of kind "
                             f"{' or '.join(_poolable_kinds())}, each with its url")
        return members

    # Capabilities: what every member has.
    @property
    def serves_adapters(self) -> bool:  # type: ignore[override]
        return all(m.serves_adapters for m in self.members)

    @property
    def output_constraints(self) -> frozenset[str]:  # type: ignore[override]
        return frozenset.intersection(*(frozenset(m.output_constraints) for m in self.members))

    def resolve(self, ctx: EngineContext) -> ResolvedEngine:
        resolved = [m.resolve(ctx) for m in self.members]
        mismatch = identity_mismatch(resolved)
        if mismatch:
            raise ConfigError(f"engine '{ctx.name}': {mismatch}")
        first = resolved[0]
        warnings = tuple(dict.fromkeys(w for r in resolved for w in r.warnings))
        endpoints = sum(len(getattr(m, "urls", [None])) for m in self.members)
        return ResolvedEngine(ctx.name, "pool", first.identity, first.model_label, first.model,
                              warnings, {**first.details, "endpoints": endpoints,
                                         "member_kinds": [r.kind for r in resolved]})

    def problems(self, ctx: EngineContext) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for i, member in enumerate(self.members):
            for loc, message, *kind in member.problems(ctx):
                # "@model" is the suite's own `model`: it stays where it is written.
                where = loc if tuple(loc) == ("@model",) else ("members", i, *loc)
                out.append((where, message, *kind))
            if member.cost is not None:
                out.append((("members", i, "cost"), "a pool member's cost is not used: give "
                            "the pool its `cost`"))
        if not out:
            mismatch = identity_mismatch([m.resolve(ctx) for m in self.members])
            if mismatch:
                out.append((("members",), mismatch))
        return out

    def build(self, ctx: EngineContext, resolved: ResolvedEngine) -> Engine:
        from harness.engines._pool import PoolEngine

        endpoints = []
        for member in self.members:
            endpoints += member.endpoints(ctx, member.resolve(ctx))  # type: ignore[attr-defined]
        return PoolEngine(endpoints, resolved.identity, name=ctx.name)


def identity_mismatch(resolved: list[ResolvedEngine]) -> str | None:
    """Why these members are not replicas of one model (None when they are)."""
    first = resolved[0].identity
    for i, other in enumerate(r.identity for r in resolved[1:]):
        if other != first:
            fields = sorted(k for k in {*first, *other} if first.get(k) != other.get(k))
            shown = "; ".join(f"{k}: {other.get(k)!r} vs {first.get(k)!r}" for k in fields)
            return (f"member {i + 1} is not a replica of member 0 ({shown}); a pool holds "
                    "replicas of one model, whose answers share one cache identity")
    return None
