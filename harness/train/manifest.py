"""The adapter store: `adapters/<name>/` folders and the manifest.json that describes each.

A published adapter folder holds adapter_config.json, adapter_model.safetensors, manifest.json
and loss_curve.png. The manifest says where the adapter came from (base model identity, the
training data and a hash per training example, the full config, the system prompt), how
training went (loss history, wall time, throughput) and what it is (content hash of the
weights, vLLM compatibility). Folders are written under a temporary name and renamed, so a
crash never leaves a half-written adapter in the store.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.adapters_io import CONFIG_FILE, MANIFEST_FILE, WEIGHTS_FILE
from harness.errors import ModelError
from harness.models import file_sha256  # noqa: F401 - re-exported for the trainer
from harness.versions import installed_version

MANIFEST_FORMAT = "harness-adapter/1"
LOSS_CURVE_FILE = "loss_curve.png"
# What a complete manifest always has: the acceptance criterion, checked by the tests.
REQUIRED_KEYS = (
    "format", "name", "created_at", "base_model", "system_prompt", "chat_template_sha256",
    "training_data", "example_hashes", "leakage_check", "config", "lora", "training",
    "loss_history", "eval_history", "package_versions", "weights", "vllm",
)
PACKAGES = ("harness", "torch", "transformers", "peft", "bitsandbytes", "accelerate", "trl")


def package_versions() -> dict[str, str | None]:
    return {"python": platform.python_version(),
            **{name: installed_version(name) for name in PACKAGES}}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:  # a bug in the trainer, not bad input: fail loudly
        raise ValueError(f"incomplete adapter manifest, missing {missing}")
    path = folder / MANIFEST_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise ModelError(f"{folder} has no {MANIFEST_FILE}: not an adapter trained by harness")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def publish(staging: Path, target: Path) -> None:
    """Move a finished adapter folder into place, replacing an old one only at the last moment."""
    old = target.with_name(f".replaced-{target.name}-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def is_adapter_dir(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


@dataclass
class AdapterEntry:
    name: str
    path: Path
    manifest: dict[str, Any] | None  # None: a peft adapter trained elsewhere


def list_adapters(store: Path) -> list[AdapterEntry]:
    """Every adapter folder in the store, sorted by name; hidden folders are work in progress."""
    if not store.is_dir():
        return []
    entries = []
    for folder in sorted(store.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir() or not is_adapter_dir(folder):
            continue
        try:
            manifest = read_manifest(folder)
        except ModelError:
            manifest = None
        entries.append(AdapterEntry(folder.name, folder, manifest))
    return entries


def resolve_adapter(spec: str, store: Path) -> Path:
    """An adapter given by folder path or by name in the store; ModelError when it is neither."""
    candidate = Path(spec).expanduser()
    for folder in (candidate, store / spec):
        if folder.is_dir() and is_adapter_dir(folder):
            return folder.resolve()
    names = ", ".join(e.name for e in list_adapters(store)) or "none"
    raise ModelError(f"no adapter '{spec}': not an adapter folder, and not in {store} "
                     f"(adapters there: {names})")
