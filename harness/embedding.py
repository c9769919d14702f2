"""Sentence embeddings from a local sentence-transformers folder, loaded once per process.

Scorers (embedding_similarity) and the RAG arm share this module, so a run loads the embedder
at most once. Nothing here touches the network: the model must be a folder on disk.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.errors import ModelError
from harness.models import default_embedder_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_LOAD_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str | None], SentenceTransformer] = {}
# Fast (Rust) tokenizers raise "Already borrowed" when one instance is used from two threads,
# so encoding is serialised per model.
_ENCODE_LOCKS: dict[tuple[str, str | None], threading.Lock] = {}


def embedder_folder(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder `load_embedder(path)` would load: `path`, or the embedded default."""
    folder = default_embedder_path() if path is None else Path(path).expanduser()
    if not folder.is_dir():
        raise ModelError(f"embedder folder {folder} does not exist")
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise ModelError(f"embedder folder {folder} has no modules.json or config.json")
    return folder.resolve()


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    # Scoped rather than process-wide: engines may still load hub ids for users with internet.
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def load_embedder(
    path: str | os.PathLike[str] | None = None, device: str | None = None
) -> SentenceTransformer:
    """A SentenceTransformer from `path` (default: the embedded all-MiniLM-L6-v2), cached.

    `device` None lets sentence-transformers pick (CUDA when available). The same (folder,
    device) pair always returns the same object.
    """
    return _load(path, device)[1]


def _load(
    path: str | os.PathLike[str] | None, device: str | None
) -> tuple[tuple[str, str | None], SentenceTransformer]:
    key = (str(embedder_folder(path)), device)
    with _LOAD_LOCK:
        model = _MODELS.get(key)
        if model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # callers show their own progress
            with _offline():
                try:
                    # local_files_only is the real guarantee: HF_HUB_OFFLINE is read at import
                    # time by huggingface_hub, which may already have happened.
                    model = SentenceTransformer(key[0], device=device, local_files_only=True)
                except (OSError, ValueError) as exc:
                    raise ModelError(f"cannot load embedder from {key[0]}: {exc}") from exc
            model.eval()
            _MODELS[key] = model
            _ENCODE_LOCKS[key] = threading.Lock()
        return key, model


def embed(
    texts: Sequence[str],
    batch_size: int = 32,
    path: str | os.PathLike[str] | None = None,
    device: str | None = None,
) -> np.ndarray:
    """Embed `texts` as an (n, dim) float32 array of unit-length rows (dot product = cosine)."""
    key, model = _load(path, device)
    if len(texts) == 0:
        return np.zeros((0, embedding_dim(model)), dtype=np.float32)
    with _ENCODE_LOCKS[key]:
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return np.asarray(vectors, dtype=np.float32)


def embedding_dim(model: SentenceTransformer) -> int:
    # Renamed in sentence-transformers 5; keep both spellings working.
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    return int(getter())
