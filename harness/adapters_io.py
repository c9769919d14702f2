"""Reading LoRA adapter folders: their identity (content hash) and whether vLLM can serve them.

Pure file reading, no torch: the safetensors header is parsed directly, so checking an adapter
costs milliseconds and works in any venv. The trainer reuses these to validate what it writes.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

from harness.errors import ModelError
from harness.types import AdapterRef

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
MANIFEST_FILE = "manifest.json"

# The values vLLM accepts for --max-lora-rank; an adapter may have any rank up to the limit.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)

# Config keys that do not change what the adapter computes. base_model_name_or_path is a local
# path at training time; hashing it would give the same weights a different identity per machine.
_UNHASHED_CONFIG_KEYS = frozenset({"base_model_name_or_path", "revision", "peft_version",
                                   "inference_mode"})
_SET_VALUED_KEYS = ("target_modules", "modules_to_save", "exclude_modules")


def load_adapter_ref(path: str | Path, name: str | None = None) -> AdapterRef:
    """Describe the adapter in `path`; ModelError if it is missing or not a LoRA adapter folder.

    `name` is a display label (default: the folder name); identity is `content_hash`, the sha256
    of the weights file and the output-relevant part of adapter_config.json.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelError(f"adapter folder {folder} does not exist")
    config = read_adapter_config(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"adapter folder {folder} has no {WEIGHTS_FILE}")
    return AdapterRef(
        name=name or folder.resolve().name,
        path=str(folder.resolve()),
        content_hash=adapter_content_hash(folder, config),
        base_model=_manifest_base_model(folder),
        rank=adapter_rank(config),
    )


def read_adapter_config(folder: Path) -> dict[str, Any]:
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise ModelError(f"adapter folder {folder} has no {CONFIG_FILE}: not a peft adapter")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{config_path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ModelError(f"{config_path}: expected a JSON object")
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise ModelError(f"{config_path}: peft_type is {peft_type}, expected LORA")
    return config


def adapter_content_hash(folder: Path, config: dict[str, Any] | None = None) -> str:
    config = read_adapter_config(folder) if config is None else config
    relevant = {k: v for k, v in config.items() if k not in _UNHASHED_CONFIG_KEYS}
    for key in _SET_VALUED_KEYS:  # peft saves these sets in arbitrary order
        if isinstance(relevant.get(key), list):
            relevant[key] = sorted(relevant[key])
    h = hashlib.sha256()
    h.update(json.dumps(relevant, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    h.update(b"\0")
    with open(folder / WEIGHTS_FILE, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def adapter_rank(config: dict[str, Any]) -> int:
    """The largest rank any module uses: `r`, or a bigger one from `rank_pattern`."""
    ranks = [int(config.get("r") or 0)]
    ranks += [int(v) for v in (config.get("rank_pattern") or {}).values()]
    return max(ranks)


def serving_name(ref: AdapterRef) -> str:
    """The name a server knows the adapter by: derived from content, so new weights get a new
    name and can never be served from a stale prefix cache filled under an old one."""
    return f"lora-{ref.content_hash[:12]}"


def check_vllm_compatible(path: str | Path, max_rank: int | None = None) -> list[str]:
    """Everything that would stop vLLM from serving this adapter; empty when it can."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return [f"adapter folder {folder} does not exist"]
    try:
        config = read_adapter_config(folder)
    except ModelError as exc:
        return [exc.message]
    problems: list[str] = []
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        problems.append(f"no {WEIGHTS_FILE} (vLLM loads safetensors adapters)")
    rank = adapter_rank(config)
    # Any rank up to the server's limit is served (verified: r=12 under --max-lora-rank 16);
    # only the limit itself must be one of VLLM_LORA_RANKS.
    if not 1 <= rank <= VLLM_LORA_RANKS[-1]:
        problems.append(f"rank r={rank} is outside what vLLM serves (1..{VLLM_LORA_RANKS[-1]})")
    elif max_rank is not None and rank > max_rank:
        problems.append(f"rank r={rank} is above the server's --max-lora-rank {max_rank}")
    if config.get("modules_to_save"):
        problems.append(f"modules_to_save={config['modules_to_save']} (vLLM serves LoRA "
                        "weights only)")
    if config.get("use_dora"):
        problems.append("use_dora=true (vLLM does not serve DoRA)")
    if config.get("trainable_token_indices"):
        problems.append("trainable_token_indices is set (vLLM does not serve trained tokens)")
    if (folder / "new_embeddings.safetensors").exists() or (folder / "new_embeddings.bin").exists():
        problems.append("new_embeddings file present: the vocabulary was resized")
    if weights.is_file():
        try:
            full = _full_weight_tensors(weights)
        except ValueError as exc:
            problems.append(f"{WEIGHTS_FILE} is not a valid safetensors file: {exc}")
        else:
            if full:
                problems.append(f"full (non-LoRA) weights saved, e.g. {full[0]}: resized "
                                "embeddings or saved modules")
    return problems


def _full_weight_tensors(weights: Path) -> list[str]:
    """Tensor names that are not lora_A/lora_B factors (embeddings saved after a resize...)."""
    header = _safetensors_header(weights)
    return sorted(n for n in header if n != "__metadata__" and ".lora_" not in n)


def _safetensors_header(path: Path) -> dict[str, Any]:
    # Format: 8-byte little-endian header length, then that many bytes of JSON.
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("file shorter than its header")
        (length,) = struct.unpack("<Q", raw)
        if length > 100_000_000:
            raise ValueError("implausible header length")
        try:
            header = json.loads(f.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"unreadable header ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return header


def _manifest_base_model(folder: Path) -> str:
    """The base model identity the trainer recorded, or "" when there is no manifest."""
    manifest = folder / MANIFEST_FILE
    if not manifest.is_file():
        return ""
    try:
        data = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{manifest} is not valid JSON: {exc}") from None
    base = data.get("base_model", "") if isinstance(data, dict) else ""
    if isinstance(base, dict):  # {"path": ..., "identity": ...}: identity is what compares
        base = base.get("identity") or base.get("path") or ""
    return str(base)
