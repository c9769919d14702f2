"""embedding_similarity: cosine similarity of sentence embeddings of output and reference.

Batch scorer, so a whole arm's outputs go through the embedder in a few forward passes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.scoring.extract import field_text, reference_field
from harness.scoring.options import check_field, check_positive_int, check_str
from harness.scoring.registry import scorer
from harness.types import Sample, Score


@scorer("embedding_similarity", batch=True)
def embedding_similarity(
    field: str | None = None,
    model: str | None = None,
    batch_size: int = 32,
    *,
    base_dir: Path,
) -> Any:
    """Cosine similarity of output and reference embeddings, clipped at 0 (range 0..1)."""
    check_field(field)
    check_positive_int("batch_size", batch_size)
    model_path = None
    if check_str("model", model, optional=True) is not None:
        candidate = Path(model).expanduser()
        model_path = candidate if candidate.is_absolute() else base_dir / candidate
    from harness.embedding import embedder_folder

    embedder_folder(model_path)  # fail at build time, not after generation, on a bad folder

    def score(samples: list[Sample]) -> list[Score]:
        import numpy as np

        from harness.embedding import embed

        pairs: list[tuple[str | None, str]] = []
        for sample in samples:
            example, output = sample.example, sample.output
            if field is None:
                pairs.append((output, example.reference))
            else:
                pairs.append((field_text(output, field), reference_field(example, field)))
        keep = [i for i, (got, _) in enumerate(pairs) if got is not None]
        texts = [pairs[i][0] for i in keep] + [pairs[i][1] for i in keep]
        vectors = embed(texts, batch_size=batch_size, path=model_path)
        got_vecs, ref_vecs = vectors[: len(keep)], vectors[len(keep) :]
        # Rows are unit length, so the row-wise dot product is the cosine. Negative cosines
        # mean "unrelated" as much as 0 does, so they are clipped to keep the range 0..1.
        cosines = np.clip(np.einsum("ij,ij->i", got_vecs, ref_vecs), 0.0, 1.0)
        scores = [Score(0.0, f"output is not JSON with field {field}")] * len(pairs)
        for i, cosine in zip(keep, cosines, strict=True):
            scores[i] = Score(float(cosine), "", answer=pairs[i][0] if field else None)
        return scores

    return score
