"""Merging an adapter into its base: a plain model folder, for servers without LoRA support.

Only into a 16/32-bit base. Merging into a 4-bit base would add the LoRA delta to weights that
are then rounded back to 4 bits: the delta is mostly lost and the output is garbage (measured on
SmolLM2), so it is refused rather than offered.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from harness.adapters_io import adapter_content_hash, read_adapter_config
from harness.errors import ConfigError, ModelError
from harness.models import resolve_model

MERGE_DTYPES = ("bfloat16", "float16", "float32")
FOUR_BIT = ("4bit", "nf4", "int4")
MERGED_INFO_FILE = "harness_merged.json"


def merge_adapter(adapter_dir: Path, out_dir: Path, *, dtype: str = "bfloat16",
                  force: bool = False) -> Path:
    """Write base + adapter, merged, as a Hugging Face folder in `out_dir`."""
    if dtype in FOUR_BIT:
        raise ModelError("refusing to merge into a 4-bit base: rounding the merged weights "
                         "back to 4 bits destroys the adapter's effect (garbage output); merge "
                         f"into {' / '.join(MERGE_DTYPES)} and quantise the merged model if needed")
    if dtype not in MERGE_DTYPES:
        raise ConfigError(f"merge dtype '{dtype}': expected one of {', '.join(MERGE_DTYPES)}")
    if out_dir.exists() and not force:
        raise ConfigError(f"{out_dir} already exists; pass --force to overwrite it")
    base_path, base_identity = _base_of(adapter_dir)
    _refuse_quantized_base(base_path)

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.train.model import quiet_libraries

    quiet_libraries()
    torch_dtype = getattr(torch, dtype)
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch_dtype)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    staging = out_dir.with_name(f".merging-{out_dir.name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    merged.save_pretrained(staging, safe_serialization=True)
    AutoTokenizer.from_pretrained(base_path).save_pretrained(staging)
    info = {"adapter": str(adapter_dir), "adapter_content_hash": adapter_content_hash(adapter_dir),
            "base_model": base_identity, "dtype": dtype}
    (staging / MERGED_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, out_dir)
    return out_dir


def _base_of(adapter_dir: Path) -> tuple[str, str]:
    """The base model folder: from our manifest, else from peft's adapter_config.json."""
    manifest_file = adapter_dir / "manifest.json"
    if manifest_file.is_file():
        base: dict[str, Any] = json.loads(manifest_file.read_text()).get("base_model") or {}
        if base.get("path") and Path(base["path"]).is_dir():
            return base["path"], base.get("identity", base["path"])
        if base.get("spec"):
            resolved = resolve_model(base["spec"])
            return resolved.path, resolved.identity
    spec = read_adapter_config(adapter_dir).get("base_model_name_or_path")
    if not spec:
        raise ModelError(f"{adapter_dir}: cannot tell which base model the adapter belongs to")
    resolved = resolve_model(spec)
    return resolved.path, resolved.identity


def _refuse_quantized_base(base_path: str) -> None:
    config_file = Path(base_path) / "config.json"
    if not config_file.is_file():
        return
    quant = json.loads(config_file.read_text()).get("quantization_config")
    if quant:
        bits = "4-bit" if quant.get("load_in_4bit") else "quantised"
        raise ModelError(f"refusing to merge into {base_path}: it is a {bits} model "
                         f"({quant.get('quant_method', 'quantized')}); merge into the 16-bit "
                         "original instead")
