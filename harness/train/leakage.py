"""The leakage guard: an adapter must never be evaluated on questions it was trained on.

Before training, every training example is compared with every golden set the suite names:
exact and normalised matches of the user turns always, embedding near-duplicates on request.
Any overlap refuses training (LeakageError listing the ids) unless the caller drops them.

The adapter manifest stores the normalised prompt hashes of its training examples, so
`overlaps_with_manifest` can warn at `harness run` time even for adapters trained elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import LeakageError
from harness.golden import GoldenSet
from harness.train.data import prompt_key, user_prompt
from harness.types import Example


@dataclass(frozen=True)
class Overlap:
    train_id: str
    golden_set: str
    golden_id: str
    kind: str  # "exact" | "normalized" | "near"
    similarity: float = 1.0

    def describe(self) -> str:
        sim = f" {self.similarity:.2f}" if self.kind == "near" else ""
        return f"{self.train_id}~{self.golden_set}:{self.golden_id} ({self.kind}{sim})"


def exact_key(example: Example) -> str:
    return hashlib.sha256(user_prompt(example).encode("utf-8")).hexdigest()


def find_overlaps(train: Sequence[Example], golden_sets: Sequence[GoldenSet],
                  near_threshold: float | None = None,
                  embedder_path: str | None = None) -> list[Overlap]:
    """Every (training example, golden example) pair that asks the same question.

    A pair is reported once, under the strictest kind that matches: exact, else normalised,
    else (with `near_threshold`) cosine similarity of the user turns >= the threshold.
    """
    exact: dict[str, list[tuple[str, str]]] = {}
    normal: dict[str, list[tuple[str, str]]] = {}
    for gs in golden_sets:
        for g in gs.examples:
            exact.setdefault(exact_key(g), []).append((gs.name, g.id))
            normal.setdefault(prompt_key(g), []).append((gs.name, g.id))
    found: list[Overlap] = []
    matched: set[str] = set()
    for t in train:
        hits = [Overlap(t.id, s, g, "exact") for s, g in exact.get(exact_key(t), [])]
        if not hits:
            hits = [Overlap(t.id, s, g, "normalized") for s, g in normal.get(prompt_key(t), [])]
        if hits:
            matched.add(t.id)
            found.extend(hits)
    if near_threshold is not None:
        rest = [t for t in train if t.id not in matched]
        found.extend(_near_duplicates(rest, golden_sets, near_threshold, embedder_path))
    return found


def _near_duplicates(train: Sequence[Example], golden_sets: Sequence[GoldenSet],
                     threshold: float, embedder_path: str | None) -> list[Overlap]:
    from harness.embedding import embed

    golden = [(gs.name, g) for gs in golden_sets for g in gs.examples]
    if not train or not golden:
        return []
    t_vecs = embed([user_prompt(t) for t in train], path=embedder_path)
    g_vecs = embed([user_prompt(g) for _, g in golden], path=embedder_path)
    sims = t_vecs @ g_vecs.T  # unit vectors: dot product is cosine similarity
    out = []
    for i, j in zip(*(sims >= threshold).nonzero(), strict=True):
        name, g = golden[j]
        out.append(Overlap(train[i].id, name, g.id, "near", float(sims[i, j])))
    return out


def refuse_on_overlap(overlaps: Sequence[Overlap]) -> None:
    """Raise one LeakageError line naming the offending ids, if there is any overlap."""
    if not overlaps:
        return
    train_ids = sorted({o.train_id for o in overlaps})
    kinds = sorted({o.kind for o in overlaps})
    shown = ", ".join(o.describe() for o in overlaps[:8])
    more = f" ... (+{len(overlaps) - 8} more pairs)" if len(overlaps) > 8 else ""
    raise LeakageError(
        f"refusing to train: {len(train_ids)} training examples overlap the golden sets "
        f"({'/'.join(kinds)} matches): {shown}{more}; remove them from the training data, "
        "or pass --drop-overlaps to drop them")


def overlaps_with_manifest(manifest: dict, golden: Sequence[Example]) -> list[str]:
    """Ids of golden examples whose normalised prompt is among an adapter's training hashes."""
    hashes = set(manifest.get("example_hashes", {}).get("prompt_normalized", []))
    return [g.id for g in golden if prompt_key(g) in hashes]
