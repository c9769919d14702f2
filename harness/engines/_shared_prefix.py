"""Attention over a prompt prefix that many rows share, read once for all of them.

In the demo's arms every prompt starts with the same system prompt and few-shot turns (294
tokens); copied into every row's cache, they are most of what a decode step's attention reads
(the cache is 48 rows x 300-550 columns), and on a CPU that read is memory-bound: it grew a
decode step from 0.2 s to 0.4 s between the prompt and the RAG arm. Here a row's cache holds
only its own columns; the shared prefix's keys and values are kept once, at batch 1, and
every query of every row attends to them in one batch-1 attention ("cascade" attention, as
FlashInfer's). The two partial attentions are merged by their log-sum-exp, which is exact up
to rounding: float32 answers equal full attention's, bfloat16 ones may differ in the last bit
of an activation, so the engine's identity says when it is on
(harness/engines/_local_identity.py).

It plugs into transformers through its attention registry (`AttentionInterface`): a forward
call passes `shared_prefix=[SharedPrefix, ...]`; without it the function is transformers' own
SDPA attention, so `model.generate` and training are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

NAME = "harness_shared_prefix"
# Below this many tokens a shared prefix is copied into the rows as before: a batch-1
# attention more per layer and step costs about what reading ~30 columns of 48 rows does.
MIN_TOKENS = 32


@dataclass(frozen=True)
class SharedPrefix:
    """Keys and values of a prefix ([1, kv heads, columns, head dim] per layer) and the rows
    of the batch that start with it (None: every row)."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    rows: torch.Tensor | None = None


def install(model: Any) -> bool:
    """Make `model` use this attention (its own SDPA when a call passes no shared prefix);
    False when the model does not take attention from the registry (then rows must hold
    their whole prompt: a shared prefix passed to it would be ignored)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(NAME, shared_prefix_attention)
    AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])
    try:
        model.set_attn_implementation(NAME)
    except (ValueError, ImportError):
        return False
    return model.config._attn_implementation == NAME


def shared_prefix_attention(module: Any, query: torch.Tensor, key: torch.Tensor,
                            value: torch.Tensor, attention_mask: torch.Tensor | None,
                            dropout: float = 0.0, scaling: float | None = None,
                            is_causal: bool | None = None,
                            shared_prefix: list[SharedPrefix] | None = None,
                            **kwargs: Any) -> tuple[torch.Tensor, None]:
    if not shared_prefix:
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, is_causal=is_causal,
                                      **kwargs)
    heads, dim = query.shape[1], query.shape[-1]
    groups = heads // key.shape[1]
    scale = scaling if scaling is not None else dim ** -0.5
    out, lse = _own_columns(query, key, value, attention_mask, groups, scale)
    for prefix in shared_prefix:
        keys, values = prefix.layers[module.layer_idx]
        q = query if prefix.rows is None else query[prefix.rows]
        o, s = _against_prefix(q, keys, values, groups, scale)
        if prefix.rows is None:
            out, lse = _merge(out, lse, o, s)
        else:
            out[prefix.rows], lse[prefix.rows] = _merge(out[prefix.rows], lse[prefix.rows], o, s)
    return out.to(query.dtype).transpose(1, 2).contiguous(), None


_flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


def _own_columns(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 mask: torch.Tensor | None, groups: int, scale: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over each row's own cache columns: output [rows, heads, length, dim] in
    float32 and its log-sum-exp [rows, heads, length] (-inf where a query sees no column)."""
    rows, heads, length, dim = query.shape
    kv_heads = key.shape[1]
    if length == 1:  # one query a row: its heads grouped by key head, no copy of the keys
        q = query.reshape(rows, kv_heads, groups, dim)
    else:
        q = query
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    additive, blind = None, None
    if mask is not None:
        if mask.dtype == torch.bool:
            if length > 1:
                blind = ~mask.any(dim=-1)  # [rows, 1, length]: padding queries
            additive = torch.zeros(mask.shape, dtype=query.dtype).masked_fill_(
                ~mask, float("-inf"))
        else:
            additive = mask.to(query.dtype)
        if length == 1:
            additive = additive.view(rows, 1, 1, -1)
    causal = mask is None and length > 1
    out, lse = _flash(q, key, value, 0.0, causal, attn_mask=additive, scale=scale)
    out = out.reshape(rows, heads, length, dim).float()
    lse = lse.reshape(rows, heads, length)
    if blind is not None:
        lse = lse.masked_fill(blind, float("-inf"))
        out = out.masked_fill(blind[..., None], 0.0)
    return out, lse


def _against_prefix(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                    groups: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Every query of every row against the prefix, as one batch-1 attention per key head
    (the prefix is before every query: no mask)."""
    rows, heads, length, dim = query.shape
    kv_heads = keys.shape[1]
    q = (query.reshape(rows, kv_heads, groups * length, dim).transpose(0, 1)
         .reshape(1, kv_heads, rows * groups * length, dim))
    out, lse = _flash(q, keys, values, 0.0, False, scale=scale)
    out = (out.view(kv_heads, rows, groups * length, dim).transpose(0, 1)
           .reshape(rows, heads, length, dim).float())
    lse = lse.view(kv_heads, rows, groups * length).transpose(0, 1).reshape(rows, heads, length)
    return out, lse


def _merge(out_a: torch.Tensor, lse_a: torch.Tensor, out_b: torch.Tensor, lse_b: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Two attentions over disjoint columns as one: weights by their share of the mass."""
    lse = torch.logaddexp(lse_a, lse_b)
    both = (out_a * torch.exp(lse_a - lse)[..., None] + out_b * torch.exp(lse_b - lse)[..., None])
    return both, lse
