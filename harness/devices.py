"""Which dtype "auto" means on this machine, decided without importing torch when possible.

The runner needs the engine's dtype for cache keys before it knows whether anything must be
generated; a fully cached re-run should not pay torch's import (about a second). torch is only
imported when a GPU driver is present, since only then can CUDA (or ROCm) be available.
"""

from __future__ import annotations

import platform
from pathlib import Path

from harness.errors import ConfigError

DTYPE_NAMES = ("bfloat16", "float32", "float16")


def cpu_has_native_bf16() -> bool:
    """True when the CPU does bf16 in hardware (else torch emulates it, slower than fp32)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False  # not Linux: play safe with fp32
    flags = set(cpuinfo.split())
    if platform.machine() in ("aarch64", "arm64"):
        return "bf16" in flags
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def gpu_driver_present() -> bool:
    """NVIDIA or AMD (ROCm) kernel driver loaded: without one, torch cannot see a GPU."""
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/kfd").exists()


def default_device() -> str:
    if not gpu_driver_present():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype_name(name: str, device: str | None = None) -> str:
    """"auto": bf16 on CUDA (fp16 on GPUs without bf16) and on CPUs with native bf16, else fp32."""
    if name in DTYPE_NAMES:
        return name
    if name != "auto":
        raise ConfigError(f"engine dtype {name!r} is not one of: auto, {', '.join(DTYPE_NAMES)}")
    device = device or default_device()
    if device == "cuda":
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cpu_has_native_bf16() else "float32"
