"""Serve a LoRA adapter with its weights merged into the base, and give the base back exactly.

Unmerged, every adapted layer runs the base matmul plus the adapter's two small ones, a scale
and an add: on a CPU that is about 200 more operations a decode step for a 30-layer model with
all linear layers adapted, and the adapter's groups decoded ~20% slower than with the weights
merged (bench/bench_local_decode.py --merge). peft's `unmerge()` subtracts the delta again,
which in bf16 does not give the old weights back (rounding), so base requests after an adapter
would change; the base weights are copied before merging and copied back afterwards instead.
When an engine merges, and the identity part that says so: harness/engines/_local_identity.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def merged_adapter(model: Any, name: str) -> Iterator[None]:
    """Inside: adapter `name` (made active by the caller) merged into its layers' weights
    (nothing to do for an adapter without LoRA layers, e.g. prompt learning)."""
    import torch
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer) and name in m.lora_A]
    saved = [(m, m.get_base_layer().weight.detach().clone()) for m in layers]
    try:
        with torch.no_grad():
            for layer in layers:
                layer.merge(adapter_names=[name])
        yield
    finally:
        for layer, weight in saved:  # no grad needed: .data
            if layer.merged:
                layer.unmerge()  # peft's bookkeeping: the layer runs its adapter again
            layer.get_base_layer().weight.data.copy_(weight)
