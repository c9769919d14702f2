"""From a training file to token ids: load, system prompt, dedupe, leakage guard, split, tokenize.

Everything here runs before any model weight loads, so bad data and leaks fail in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.golden import GoldenSet, load_examples, load_golden_set
from harness.train.data import (
    LengthReport,
    Tokenized,
    apply_length_policy,
    dedupe,
    split_held_out,
    tokenize,
    with_system_prompt,
)
from harness.train.job import TrainJob
from harness.train.leakage import Overlap, find_overlaps, refuse_on_overlap
from harness.train.manifest import file_sha256
from harness.types import Example


@dataclass
class PreparedData:
    data_sha256: str
    n_loaded: int
    duplicates: list[tuple[str, str]]
    golden_sets: list[GoldenSet]
    overlaps: list[Overlap]
    dropped_overlaps: list[str]
    train_examples: list[Example] = field(default_factory=list)
    held_out_examples: list[Example] = field(default_factory=list)
    train: list[Tokenized] = field(default_factory=list)
    held_out: list[Tokenized] = field(default_factory=list)
    length: LengthReport | None = None

    @property
    def n_train_tokens(self) -> int:
        return sum(len(t.input_ids) for t in self.train)

    def summary(self) -> list[str]:
        lines = [f"{self.n_loaded} examples loaded"]
        if self.duplicates:
            ids = ", ".join(d for d, _ in self.duplicates[:5])
            more = " ..." if len(self.duplicates) > 5 else ""
            lines.append(f"{len(self.duplicates)} duplicates dropped (same normalised user "
                         f"turn): {ids}{more}")
        else:
            lines.append("no duplicates (normalised user turn)")
        checked = ", ".join(f"{g.name} ({len(g.examples)})" for g in self.golden_sets)
        if self.dropped_overlaps:
            lines.append(f"{len(self.dropped_overlaps)} examples overlapping golden sets "
                         f"dropped (--drop-overlaps): {', '.join(self.dropped_overlaps[:5])}")
        lines.append(f"leakage guard: no overlap with {checked or 'no golden set'}")
        if self.length is not None:
            lines.append(self.length.describe())
        lines.append(f"{len(self.train)} training examples ({self.n_train_tokens} tokens), "
                     f"{len(self.held_out)} held out")
        return lines


def load_and_guard(job: TrainJob, drop_overlaps: bool = False) -> PreparedData:
    """Load, de-duplicate and leakage-check the training data; split off the held-out part."""
    config = job.config
    examples = load_examples(job.data_path, fmt=config.format, source="train")
    examples = with_system_prompt(examples, job.system_prompt)
    deduped = dedupe(examples)
    goldens = [load_golden_set(g.path, name=g.name, fmt=g.format, columns=g.columns or None)
               for g in job.golden_sets]
    threshold = config.near_duplicate_threshold if config.near_duplicates else None
    overlaps = find_overlaps(deduped.kept, goldens, near_threshold=threshold)
    kept, dropped = deduped.kept, []
    if overlaps:
        if not drop_overlaps:
            refuse_on_overlap(overlaps)
        dropped = sorted({o.train_id for o in overlaps})
        kept = [e for e in kept if e.id not in set(dropped)]
    train, held = split_held_out(kept, config.held_out, config.seed)
    return PreparedData(data_sha256=file_sha256(job.data_path), n_loaded=len(examples),
                        duplicates=deduped.dropped, golden_sets=goldens, overlaps=overlaps,
                        dropped_overlaps=dropped, train_examples=train, held_out_examples=held)


def tokenize_all(prepared: PreparedData, tokenizer: Any, job: TrainJob) -> PreparedData:
    """Render and tokenize both splits; apply the over-length policy to both, report once."""
    config = job.config
    examples = prepared.train_examples + prepared.held_out_examples
    if job.rag_arm is not None:
        # After the leakage guard and the split, which compare the questions themselves.
        from harness.train.rag import rag_messages

        examples = rag_messages(job, examples)
    items = [tokenize(tokenizer, e) for e in examples]
    kept, report = apply_length_policy(items, config.max_length, config.overlength)
    held_ids = {e.id for e in prepared.held_out_examples}
    prepared.train = [t for t in kept if t.id not in held_ids]
    prepared.held_out = [t for t in kept if t.id in held_ids]
    lost = {*report.dropped}
    prepared.train_examples = [e for e in prepared.train_examples if e.id not in lost]
    prepared.held_out_examples = [e for e in prepared.held_out_examples if e.id not in lost]
    prepared.length = report
    if not prepared.train:
        from harness.errors import DataError

        raise DataError(f"{job.data_path}: no training example left after the held-out split "
                        "and the length policy")
    return prepared
