"""Attention over a prefix kept once for many rows (harness/engines/_shared_prefix.py) equals
full attention over the prefix copied into every row, and prompts are cut into parts by
length (harness/engines/_decode.py: by_length) so a pass pads little."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.engines._decode import _PASS_TOKENS, by_length
from harness.engines._shared_prefix import SharedPrefix, shared_prefix_attention

ROWS, KV_HEADS, GROUPS, DIM, PREFIX, OWN = 4, 3, 3, 16, 40, 12


class Layer:
    layer_idx = 0
    num_key_value_groups = GROUPS
    is_causal = True


def tensors(length: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(ROWS, length, KV_HEADS * GROUPS, DIM, generator=g).transpose(1, 2)
    prefix = [torch.randn(1, KV_HEADS, PREFIX, DIM, generator=g) for _ in range(2)]
    own = [torch.randn(ROWS, KV_HEADS, OWN, DIM, generator=g) for _ in range(2)]
    mask = torch.ones(ROWS, 1, length, OWN, dtype=torch.bool)
    mask[1, :, :, :4] = False  # row 1: left padding
    if length > 1:
        mask &= torch.ones(length, OWN, dtype=torch.bool).tril(OWN - length)
        mask[2, :, :, :OWN - 2] = False  # row 2: its first queries see none of its columns
    return query, prefix, own, mask


def full_attention(query, keys, values, mask):
    out = F.scaled_dot_product_attention(query, keys.repeat_interleave(GROUPS, 1),
                                         values.repeat_interleave(GROUPS, 1), attn_mask=mask)
    return out.transpose(1, 2)


@pytest.mark.parametrize("length", [1, 5], ids=["decode step", "prefill"])
def test_attention_with_a_prefix_kept_once_equals_full_attention_over_copied_keys(length):
    query, (pk, pv), (k, v), mask = tensors(length)
    got, _ = shared_prefix_attention(Layer(), query, k, v, mask, scaling=DIM ** -0.5,
                                     shared_prefix=[SharedPrefix([(pk, pv)])])
    keys = torch.cat([pk.expand(ROWS, -1, -1, -1), k], dim=2)
    values = torch.cat([pv.expand(ROWS, -1, -1, -1), v], dim=2)
    seen = torch.cat([torch.ones(ROWS, 1, length, PREFIX, dtype=torch.bool), mask], dim=-1)
    assert torch.allclose(got, full_attention(query, keys, values, seen), atol=1e-5)


def test_a_prefix_serves_only_its_rows_and_the_others_attend_to_their_own_columns():
    query, (pk, pv), (k, v), mask = tensors(1)
    mine = torch.tensor([0, 2])
    got, _ = shared_prefix_attention(Layer(), query, k, v, mask, scaling=DIM ** -0.5,
                                     shared_prefix=[SharedPrefix([(pk, pv)], rows=mine)])
    keys = torch.cat([pk.expand(ROWS, -1, -1, -1), k], dim=2)
    values = torch.cat([pv.expand(ROWS, -1, -1, -1), v], dim=2)
    seen = torch.cat([torch.ones(ROWS, 1, 1, PREFIX, dtype=torch.bool), mask], dim=-1)
    with_prefix = full_attention(query, keys, values, seen)
    without = full_attention(query, k, v, mask)
    assert torch.allclose(got[mine], with_prefix[mine], atol=1e-5)
    assert torch.allclose(got[[1, 3]], without[[1, 3]], atol=1e-5)
    assert not torch.allclose(got[[1, 3]], with_prefix[[1, 3]], atol=1e-3)


def test_without_a_shared_prefix_it_is_transformers_sdpa_attention():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    query, _, (k, v), mask = tensors(5)
    got, _ = shared_prefix_attention(Layer(), query, k, v, mask, scaling=DIM ** -0.5)
    expected, _ = sdpa_attention_forward(Layer(), query, k, v, mask, scaling=DIM ** -0.5)
    assert torch.equal(got, expected)


def test_rows_of_very_different_lengths_go_in_separate_parts_and_similar_ones_together():
    assert by_length([100, 100, 100]) == [[0, 1, 2]]
    assert by_length([300, 20, 310, 25]) == [[1, 3], [0, 2]]
    # A part more is not worth a little padding: a pass costs _PASS_TOKENS tokens.
    assert by_length([100, 100 + _PASS_TOKENS // 4]) == [[0, 1]]


def test_the_parts_cover_every_row_once_and_compute_no_more_than_one_padded_pass():
    g = torch.Generator().manual_seed(3)
    lengths = torch.randint(1, 400, (48,), generator=g).tolist()
    parts = by_length(lengths)
    assert sorted(i for part in parts for i in part) == list(range(48))
    cost = sum(len(p) * max(lengths[i] for i in p) + _PASS_TOKENS for p in parts)
    assert cost <= len(lengths) * max(lengths) + _PASS_TOKENS
