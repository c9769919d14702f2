"""Training data preparation, following practitioners' rules.

- every example carries the same system message the tuned arm uses at inference, and is
  rendered with the model's own chat template;
- the loss covers the final assistant answer only (prompt tokens get label -100);
- hard de-duplication on a normalised hash of the user turns (reported, never silent);
- the held-out split is made once, before training, from a seeded shuffle;
- batches are padded to their own longest example (dynamic padding), not to max_length.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from harness.errors import DataError
from harness.golden import normalize_text
from harness.types import Example, Message

IGNORE_INDEX = -100  # the label torch's cross-entropy skips


def user_prompt(example: Example) -> str:
    """All user turns of an example, joined: "the question" for dedup and leakage."""
    return "\n".join(m["content"] for m in example.messages if m["role"] == "user")


def prompt_key(example: Example) -> str:
    """Normalised hash of the user turns: two examples asking the same thing share it."""
    return hashlib.sha256(normalize_text(user_prompt(example)).encode("utf-8")).hexdigest()


def with_system_prompt(examples: list[Example], system_prompt: str | None) -> list[Example]:
    """Give every example exactly `system_prompt` as its system message (None: keep as is)."""
    if system_prompt is None:
        return list(examples)
    out = []
    for e in examples:
        turns: list[Message] = [{"role": "system", "content": system_prompt}]
        turns += [m for m in e.messages if m["role"] != "system"]
        out.append(Example(id=e.id, messages=tuple(turns), reference=e.reference, tags=e.tags,
                           metadata=e.metadata, golden_set=e.golden_set))
    return out


@dataclass
class Dedupe:
    kept: list[Example]
    dropped: list[tuple[str, str]]  # (dropped id, id of the example it duplicates)


def dedupe(examples: list[Example]) -> Dedupe:
    """Keep the first example of each normalised user prompt; report the others."""
    first: dict[str, str] = {}
    kept, dropped = [], []
    for e in examples:
        key = prompt_key(e)
        if key in first:
            dropped.append((e.id, first[key]))
        else:
            first[key] = e.id
            kept.append(e)
    return Dedupe(kept, dropped)


def split_held_out(examples: list[Example], held_out: float,
                   seed: int) -> tuple[list[Example], list[Example]]:
    """(train, held_out): a fraction (< 1) or a count (>= 1) chosen by a seeded shuffle."""
    if held_out <= 0:
        return list(examples), []
    n = round(len(examples) * held_out) if held_out < 1 else int(held_out)
    n = max(1, n)
    if n >= len(examples):
        raise DataError(f"held_out={held_out} leaves no training examples "
                        f"(only {len(examples)} after de-duplication)")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held = set(order[:n])
    return ([e for i, e in enumerate(examples) if i not in held],
            [e for i, e in enumerate(examples) if i in held])


def render(tokenizer: Any, example: Example) -> tuple[str, str]:
    """(prompt text, completion text) exactly as the chat template renders them.

    The prompt is what inference sends (template with the generation prompt); the completion
    is the rest of the full conversation: the answer plus the template's end-of-turn marker,
    which the model must learn to emit so that generation stops.
    """
    prompt_turns = list(example.messages)
    prompt = tokenizer.apply_chat_template(prompt_turns, tokenize=False,
                                           add_generation_prompt=True)
    full = tokenizer.apply_chat_template(
        prompt_turns + [{"role": "assistant", "content": example.reference}], tokenize=False)
    if full.startswith(prompt):
        return prompt, full[len(prompt):]
    # A template that renders the assistant header differently with and without the answer:
    # fall back to answer + end-of-sequence, which every causal LM understands.
    return prompt, example.reference + (tokenizer.eos_token or "")


@dataclass
class Tokenized:
    id: str
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX on prompt tokens

    @property
    def n_completion(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE_INDEX)

    def as_features(self) -> dict[str, list[int]]:
        return {"input_ids": self.input_ids, "labels": self.labels}


def tokenize(tokenizer: Any, example: Example) -> Tokenized:
    """Token ids of prompt + completion, with the prompt masked out of the loss.

    Prompt and completion are tokenised separately and joined: the prompt ids are then exactly
    the ones inference feeds the model, whatever the tokenizer would merge across the border.
    """
    prompt, completion = render(tokenizer, example)
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return Tokenized(example.id, p_ids + c_ids, [IGNORE_INDEX] * len(p_ids) + list(c_ids))


@dataclass
class LengthReport:
    max_length: int
    policy: str
    over: list[str] = field(default_factory=list)  # ids longer than max_length
    dropped: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    longest: int = 0

    def describe(self) -> str:
        if not self.over:
            return f"all examples fit in max_length {self.max_length}"
        parts = []
        if self.truncated:
            parts.append(f"{len(self.truncated)} cut to {self.max_length} tokens")
        if self.dropped:
            parts.append(f"{len(self.dropped)} dropped")
        return (f"{len(self.over)} examples longer than max_length {self.max_length} "
                f"(longest {self.longest}): " + ", ".join(parts))


def apply_length_policy(items: list[Tokenized], max_length: int,
                        policy: str) -> tuple[list[Tokenized], LengthReport]:
    """Refuse, drop or cut examples over max_length; always say how many."""
    report = LengthReport(max_length, policy)
    report.longest = max((len(t.input_ids) for t in items), default=0)
    report.over = [t.id for t in items if len(t.input_ids) > max_length]
    if report.over and policy == "error":
        raise DataError(
            f"{len(report.over)} of {len(items)} training examples are longer than max_length "
            f"{max_length} tokens (longest {report.longest}, e.g. id {report.over[0]}): raise "
            f"max_length, or set overlength: drop (drops {len(report.over)}) or truncate "
            "(cuts their ends)")
    kept = []
    for t in items:
        if len(t.input_ids) <= max_length:
            kept.append(t)
            continue
        cut = Tokenized(t.id, t.input_ids[:max_length], t.labels[:max_length])
        # A cut that leaves no answer token teaches nothing: drop it even when truncating.
        if policy == "truncate" and cut.n_completion > 0:
            report.truncated.append(t.id)
            kept.append(cut)
        else:
            report.dropped.append(t.id)
    if not kept:
        raise DataError(f"no training example fits in max_length {max_length} tokens "
                        f"(longest {report.longest})")
    return kept, report


class PadCollator:
    """Pads each batch to its own longest example (dynamic padding).

    Padding positions get attention 0 and label -100, so they cost compute but never loss.
    `pad_to_multiple_of` rounds the length up (tensor cores like multiples of 8 on GPUs).
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.multiple = pad_to_multiple_of

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        length = max(len(f["input_ids"]) for f in features)
        if self.multiple:
            length = -(-length // self.multiple) * self.multiple
        ids, labels, mask = [], [], []
        for f in features:
            pad = length - len(f["input_ids"])
            ids.append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            labels.append(list(f["labels"]) + [IGNORE_INDEX] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask)}
