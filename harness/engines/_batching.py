"""How an in-process engine cuts a list of requests into batches.

Requests that must run under different conditions (another adapter, other generation
parameters) never share a batch. Within one group, requests are sorted by prompt length so a
batch holds prompts of similar length: with left padding, every padding token is wasted work.
All batches of one adapter are contiguous (base first), so each adapter is switched to once.
Pure logic, no model code: the engine supplies the prompt lengths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.types import AdapterRef, GenerationParams, Request


@dataclass(frozen=True)
class Batch:
    """Requests (by their index in the input list) that run in one `generate` call."""

    indices: tuple[int, ...]
    adapter: AdapterRef | None
    params: GenerationParams


def adapter_key(adapter: AdapterRef | None) -> str | None:
    # Adapters are identified by their weights, never by their name or folder.
    return adapter.content_hash if adapter is not None else None


@dataclass(frozen=True)
class Group:
    """Requests (by index) that may share a batch: one adapter, one set of parameters; sorted
    by prompt length."""

    indices: tuple[int, ...]
    adapter: AdapterRef | None
    params: GenerationParams


def plan_groups(requests: Sequence[Request], prompt_lengths: Sequence[int]) -> list[Group]:
    """Group by (adapter, params): base model first, then adapters in order of first
    appearance, params in order of first appearance within an adapter; each group sorted by
    prompt length (stable: equal lengths keep input order, so the plan is deterministic)."""
    groups: dict[tuple[str | None, GenerationParams], list[int]] = {}
    for i, request in enumerate(requests):
        groups.setdefault((adapter_key(request.adapter), request.params), []).append(i)

    adapter_rank: dict[str | None, int] = {None: -1}
    for key, _ in groups:
        adapter_rank.setdefault(key, len(adapter_rank))
    ordered = sorted(groups.items(), key=lambda item: adapter_rank[item[0][0]])
    return [Group(indices=tuple(sorted(indices, key=lambda i: prompt_lengths[i])),
                  adapter=requests[indices[0]].adapter, params=params)
            for (_, params), indices in ordered]


def plan_batches(
    requests: Sequence[Request], prompt_lengths: Sequence[int], batch_size: int
) -> list[Batch]:
    """Group by (adapter, params), sort each group by prompt length, cut into batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    batches = []
    for group in plan_groups(requests, prompt_lengths):
        for start in range(0, len(group.indices), batch_size):
            chunk = group.indices[start : start + batch_size]
            batches.append(Batch(indices=chunk, adapter=group.adapter, params=group.params))
    return batches
