"""embedding_similarity and harness.embedding with the real embedded MiniLM model."""

from __future__ import annotations

import numpy as np
import pytest

from harness.embedding import embed, load_embedder
from harness.errors import ModelError
from harness.scoring import build_scorer
from harness.types import Example


def ex(reference: str) -> Example:
    return Example("e1", ({"role": "user", "content": "q"},), reference)


@pytest.fixture(scope="module")
def similarity():
    return build_scorer("embedding_similarity", {})


def test_embed_returns_unit_length_float32_rows():
    vectors = embed(["Paris is in France.", "Bananas are yellow."])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embed([]).shape == (0, 384)


def test_load_embedder_returns_the_same_model_for_the_same_folder():
    assert load_embedder() is load_embedder(None)


def test_identical_texts_score_about_one(similarity):
    text = "The capital of France is Paris."
    score = similarity.score(ex(text), text)
    assert score.value == pytest.approx(1.0, abs=1e-4)


def test_a_paraphrase_scores_higher_than_an_unrelated_answer(similarity):
    reference = "The capital of France is Paris."
    paraphrase, unrelated = similarity.score_batch(
        [ex(reference), ex(reference)],
        ["Paris is France's capital city.", "Photosynthesis turns light into sugar."],
    )
    assert 0.0 <= unrelated.value < paraphrase.value <= 1.0
    assert paraphrase.value > 0.7 and unrelated.value < 0.3


def test_field_option_embeds_only_outputs_that_have_the_field():
    bound = build_scorer("embedding_similarity", {"field": "answer"})
    reference = '{"topic": "geo", "answer": "Paris"}'
    good, bad = bound.score_batch(
        [ex(reference), ex(reference)], ['{"topic": "geo", "answer": "Paris"}', "Paris"]
    )
    assert good.value == pytest.approx(1.0, abs=1e-4) and good.answer == "Paris"
    assert (bad.value, bad.explanation) == (0.0, "output is not JSON with field answer")


def test_a_missing_model_folder_fails_when_the_scorer_is_built(tmp_path):
    with pytest.raises(ModelError, match=r"embedder folder .*nowhere does not exist"):
        build_scorer("embedding_similarity", {"model": "nowhere"}, base_dir=tmp_path)
