"""groundedness: is each sentence of an answer supported by the context the arm retrieved?

Two scorers, both `needs=("context",)` (a suite refuses them on arms that retrieve nothing):

- `groundedness` (offline default, needs only the embedder): every answer sentence's support
  is its best cosine against the context's sentences; the value is the share of answer
  sentences whose support reaches `threshold`. It measures topical closeness, not entailment:
  see docs/scorers.md, "Retrieval and grounding", for what it misses.
- `groundedness_nli`: the same share, with support = the entailment probability a local
  sentence-transformers CrossEncoder NLI model (the user's folder) gives the sentence against
  each context passage.

An answer with no sentence (empty, or punctuation only) and a sample with no context both score
0: nothing was shown to be grounded, and an empty answer must not win a groundedness contest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ModelError
from harness.scoring.extract import output_field
from harness.scoring.options import check_field, check_positive_int, check_str
from harness.scoring.registry import scorer
from harness.types import Sample, Score

if TYPE_CHECKING:
    import numpy as np

# Markdown line starts that begin a new piece of text even without a blank line before them:
# headings, bullets, numbered items, table rows.
_BLOCK_START = re.compile(r"^\s*(?:#{1,6}\s|[-*+\u2022]\s|\d{1,3}[.)]\s|\|)")
_MARKER = re.compile(r"^\s*(?:#{1,6}|[-*+\u2022]|\d{1,3}[.)])\s+")
# A sentence ends at . ! ? (and closing quotes/brackets) followed by space and an upper-case
# letter, digit or opening quote. "2.40" and "e.g. the" therefore do not split.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_WORDY = re.compile(r"\w")
_UNITS = ("sentence", "chunk")


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`: paragraphs on blank lines, markdown items on their own, hard-
    wrapped lines joined, then split after . ! ? before a capital or digit. Pieces without a
    letter or digit are dropped."""
    pieces: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text):
        current: list[str] = []
        for line in block.splitlines():
            if _BLOCK_START.match(line) and current:
                pieces.append(" ".join(current))
                current = []
            if line.strip():
                current.append(line.strip())
        if current:
            pieces.append(" ".join(current))
    out = []
    for piece in pieces:
        piece = _MARKER.sub("", piece).strip()
        out.extend(s.strip() for s in _SENTENCE_END.split(piece) if _WORDY.search(s))
    return out


def context_units(texts: Sequence[str], unit: str) -> list[str]:
    """What answer sentences are compared with: each context's sentences, or its whole text."""
    if unit == "chunk":
        return [t for t in texts if _WORDY.search(t)]
    return [s for t in texts for s in split_sentences(t)]


def _check_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"option 'threshold' must be a number from 0 to 1, got {value!r}")
    return float(value)


def _check_unit(value: Any) -> str:
    if value not in _UNITS:
        raise ValueError(f"option 'unit' must be one of {', '.join(_UNITS)}, got {value!r}")
    return value


def _local_folder(name: str, value: str | None, base_dir: Path) -> Path | None:
    if check_str(name, value, optional=True) is None:
        return None
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Support of every answer sentence of one sample, given (sentences, contexts) -> array.
Support = Callable[[list[list[str]], list[list[str]]], list["np.ndarray"]]


def _grounded_scores(samples: list[Sample], field: str | None, threshold: float,
                     support: Support, what: str) -> list[Score]:
    """Share of supported sentences per sample; `support` scores all live samples at once."""
    import numpy as np

    scores: list[Score | None] = [None] * len(samples)
    live: list[int] = []
    answers: list[list[str]] = []
    contexts: list[list[str]] = []
    extracted: list[str | None] = [None] * len(samples)
    for i, sample in enumerate(samples):
        text, failure = output_field(sample.output, field, 0.0)
        if failure is not None:
            scores[i] = failure
            continue
        extracted[i] = text if field else None
        sentences = split_sentences(text or "")
        passages = [c.text for c in sample.contexts if _WORDY.search(c.text)]
        if not passages:
            scores[i] = Score(0.0, "no retrieved context to ground the answer in", extracted[i])
        elif not sentences:
            scores[i] = Score(0.0, "answer has no sentence to check", extracted[i])
        else:
            live.append(i)
            answers.append(sentences)
            contexts.append(passages)
    for i, sentences, best in zip(live, answers, support(answers, contexts), strict=True):
        supported = int(np.sum(best >= threshold))
        worst = int(np.argmin(best))
        scores[i] = Score(
            supported / len(sentences),
            f"{supported}/{len(sentences)} sentences with {what} >= {threshold:g}; least "
            f"supported ({float(best[worst]):.2f}): {_clip(sentences[worst])!r}",
            extracted[i],
        )
    return [s for s in scores if s is not None]


@scorer("groundedness", batch=True, needs=("context",))
def groundedness(
    field: str | None = None,
    threshold: float = 0.6,
    unit: str = "sentence",
    model: str | None = None,
    batch_size: int = 64,
    *,
    base_dir: Path,
) -> Any:
    """Share of answer sentences whose best cosine against the retrieved context reaches
    `threshold` (embedder only; topical support, not entailment)."""
    check_field(field)
    threshold = _check_threshold(threshold)
    unit = _check_unit(unit)
    check_positive_int("batch_size", batch_size)
    model_path = _local_folder("model", model, base_dir)
    from harness.embedding import embedder_folder

    embedder_folder(model_path)  # a bad folder fails when the suite loads, not after generation

    def support(answers: list[list[str]], contexts: list[list[str]]) -> list[np.ndarray]:
        import numpy as np

        from harness.embedding import embed

        # One embedding pass for the whole batch; a passage retrieved for many samples (the
        # usual case) is embedded once.
        units = [context_units(passages, unit) for passages in contexts]
        unique = list(dict.fromkeys(t for group in (*answers, *units) for t in group))
        vectors = embed(unique, batch_size=batch_size, path=model_path)
        row = {text: n for n, text in enumerate(unique)}
        best = []
        for sentences, group in zip(answers, units, strict=True):
            a = vectors[[row[s] for s in sentences]]
            c = vectors[[row[u] for u in group]]
            best.append(np.clip((a @ c.T).max(axis=1), 0.0, 1.0))
        return best

    return lambda samples: _grounded_scores(list(samples), field, threshold, support, "cosine")


@scorer("groundedness_nli", batch=True, needs=("context",))
def groundedness_nli(
    model: str,
    field: str | None = None,
    threshold: float = 0.5,
    batch_size: int = 16,
    *,
    base_dir: Path,
) -> Any:
    """Share of answer sentences that a local CrossEncoder NLI model says some retrieved
    passage entails (probability >= `threshold`)."""
    check_field(field)
    threshold = _check_threshold(threshold)
    check_positive_int("batch_size", batch_size)
    check_str("model", model)  # required: null is refused here, not in _local_folder
    folder = _local_folder("model", model, base_dir)
    if folder is None or not folder.is_dir():
        raise ModelError(f"scorer 'groundedness_nli': option 'model': NLI model folder {folder} "
                         "does not exist (expected a local sentence-transformers CrossEncoder)")
    if not (folder / "config.json").is_file():
        raise ModelError(f"scorer 'groundedness_nli': option 'model': {folder} has no "
                         "config.json (expected a local sentence-transformers CrossEncoder)")
    loaded: dict[str, Any] = {}

    def cross_encoder() -> tuple[Any, int]:
        # Loaded on first use: building the scorer (suite checks) must not load a model.
        if "model" not in loaded:
            loaded["model"], loaded["label"] = _load_nli(folder)
        return loaded["model"], loaded["label"]

    def support(answers: list[list[str]], contexts: list[list[str]]) -> list[np.ndarray]:
        import numpy as np

        encoder, entail = cross_encoder()
        pairs = [(p, s) for sentences, passages in zip(answers, contexts, strict=True)
                 for s in sentences for p in passages]
        probs = encoder.predict(pairs, batch_size=batch_size, apply_softmax=True,
                                show_progress_bar=False) if pairs else np.zeros((0, 3))
        entailment = np.asarray(probs, dtype=np.float64)[:, entail]
        best, at = [], 0
        for sentences, passages in zip(answers, contexts, strict=True):
            size = len(sentences) * len(passages)
            best.append(entailment[at:at + size].reshape(len(sentences), len(passages))
                        .max(axis=1))
            at += size
        return best

    return lambda samples: _grounded_scores(list(samples), field, threshold, support,
                                            "entailment")


def _load_nli(folder: Path) -> tuple[Any, int]:
    from sentence_transformers import CrossEncoder

    try:
        encoder = CrossEncoder(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"scorer 'groundedness_nli': cannot load NLI model from {folder}: "
                         f"{exc}") from exc
    labels = getattr(getattr(encoder, "config", None), "id2label", None) or {}
    entail = [int(i) for i, name in labels.items() if "entail" in str(name).lower()]
    if len(entail) != 1:
        raise ModelError(f"scorer 'groundedness_nli': model {folder} has labels "
                         f"{sorted(labels.values())}; expected one containing 'entail'")
    return encoder, entail[0]
