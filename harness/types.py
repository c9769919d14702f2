"""The small value types that flow between the stages of a run.

Everything here is plain data: no I/O, no model code. Stages talk to each other only through
these types, so an arm, an engine or a scorer can be replaced without touching the others.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


# One encoder for every hash: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def stable_hash(obj: Any) -> str:
    """sha256 of a canonical JSON rendering: the same data gives the same hash everywhere."""
    blob = _CANONICAL.encode(obj)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Example:
    """One golden example: the conversation to answer and the reference answer."""

    id: str
    messages: tuple[Message, ...]  # the prompt turns; the reference is NOT among them
    reference: str
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    golden_set: str = ""  # name of the golden set this example came from
    gold_doc_ids: tuple[str, ...] = ()  # corpus documents that answer it (retrieval metrics)

    @property
    def user_text(self) -> str:
        """The last user turn: what retrieval and de-duplication look at."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""

    def content_hash(self) -> str:
        content: dict[str, Any] = {"messages": list(self.messages), "reference": self.reference}
        if self.gold_doc_ids:  # only when given: older golden sets keep their hashes
            content["gold_doc_ids"] = sorted(self.gold_doc_ids)
        return stable_hash(content)


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 128
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        # What dataclasses.asdict gives, without its deep copy (every field is a scalar but
        # `stop`): it ran for every request's cache key.
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d["stop"] = list(self.stop)
        return d


@dataclass(frozen=True)
class AdapterRef:
    """A LoRA adapter on disk, named by the hash of its weights (never by its folder name)."""

    name: str
    path: str
    content_hash: str
    base_model: str = ""  # base model identity recorded when the adapter was trained
    rank: int = 0


@dataclass(frozen=True)
class ResponseFormat:
    """Constrained decoding: the output must match a JSON Schema, or a regular expression
    (exactly one of the two)."""

    json_schema: dict[str, Any] | None = field(default=None, hash=False)
    regex: str | None = None
    name: str = "response"  # the schema's name, for servers that want one (OpenAI)

    @property
    def kind(self) -> str:
        return "json_schema" if self.json_schema is not None else "regex"

    def as_dict(self) -> dict[str, Any]:
        if self.json_schema is not None:
            return {"json_schema": self.json_schema, "name": self.name}
        return {"regex": self.regex}


@dataclass(frozen=True)
class Request:
    """What an engine is asked: messages (already built by an arm) under given parameters."""

    messages: tuple[Message, ...]
    params: GenerationParams
    adapter: AdapterRef | None = None
    response_format: ResponseFormat | None = None
    # What a retrieving arm put into the messages, for the run's records and for scorers. Not
    # sent and not part of the key: the messages already hold the rendered context.
    contexts: tuple[Context, ...] = field(default=(), compare=False)

    def fingerprint(self) -> dict[str, Any]:
        """Everything about the request that can change the output (the engine adds its own)."""
        out: dict[str, Any] = {
            "messages": list(self.messages),
            "params": self.params.as_dict(),
            "adapter": self.adapter.content_hash if self.adapter else None,
        }
        if self.response_format is not None:  # only when set: unconstrained keys stay as they were
            out["response_format"] = self.response_format.as_dict()
        return out


@dataclass
class Response:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0  # wall time attributed to this request (batch time shared out)
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    cached: bool = False
    error: str | None = None  # the request failed for good (after retries): an arm error
    model: str = ""  # the model the server says answered (HTTP engines), when it says

    def as_dict(self) -> dict[str, Any]:
        # dataclasses.asdict without its deep copy: every field is a scalar (one call per
        # response recorded or cached).
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @property
    def failed(self) -> bool:
        return self.error is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Response:
        """From a cache or store record; fields this version does not know are ignored."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Context:
    """One retrieved passage an arm put into its prompt (RAG arms)."""

    doc_id: str
    text: str
    score: float = 0.0
    chunk_id: str = ""
    source: str = ""


@dataclass(frozen=True)
class Sample:
    """Everything a scorer may look at: the example, the request as the arm sent it, the
    response, and the retrieved context when the arm retrieves."""

    example: Example
    response: Response
    request: Request | None = None
    arm: str = ""
    contexts: tuple[Context, ...] = ()

    @property
    def output(self) -> str:
        return self.response.text

    @property
    def reference(self) -> str:
        return self.example.reference


@dataclass(frozen=True)
class Score:
    """A scorer's verdict on one output. `value` lies in the scorer's documented range."""

    value: float
    explanation: str = ""
    answer: str | None = None  # what the scorer extracted from the output, when it extracts
    # The scorer could not score this sample (it raised, or a judge's answer did not parse):
    # an evaluator error. `value` is then meaningless; the example drops out of this scorer
    # for every arm, so comparisons stay paired.
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def example_uid(golden_set: str, example_id: str) -> str:
    """The identity of an example everywhere: its golden set and its id within that set."""
    return f"{golden_set}/{example_id}" if golden_set else str(example_id)
