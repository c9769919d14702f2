"""The local engine's cache identity, and the per-device defaults it depends on.

One function for the spec (which predicts the identity before any model loads) and the engine
(which reports it): a part added here reaches both. Torch-free, so that resolving a suite,
hence a fully cached re-run, never imports torch (see harness/devices.py).
"""

from __future__ import annotations

from typing import Any


def resolve_merge(setting: bool | None, device: str) -> bool:
    """Whether an engine merges LoRA weights into the base while an adapter serves
    (harness/engines/_lora_merge.py): as set, else on a CPU only (the copy of the adapted
    weights a merge keeps would cost GPU memory; the speed-up was measured on a CPU only)."""
    return device == "cpu" if setting is None else setting


def resolve_shared_prefix(device: str) -> bool:
    """Whether rows attend to a shared prefix kept once (harness/engines/_shared_prefix.py):
    on a CPU only, where the attention kernel that returns the log-sum-exp it needs runs, and
    where the gain was measured (bench/bench_local_decode.py)."""
    return device == "cpu"


def local_identity(model_identity: Any, dtype: str, *, merge: bool,
                   shared_attention: bool) -> dict[str, Any]:
    """Everything that makes a local answer what it is. Merged weights and the split
    attention both round differently in bf16, so each is a part; each is absent when off,
    so the cache keys of an engine that does neither stay what they were."""
    return {"kind": "local", "model": model_identity, "dtype": dtype,
            **({"adapters": "merged"} if merge else {}),
            **({"attention": "shared-prefix"} if shared_attention else {})}
