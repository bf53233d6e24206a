"""The typed results speak numpy's array protocol: `np.asarray(result)` is their main array."""

from __future__ import annotations

import numpy as np
import pytest

from encoder_triton.client import Classification, Embeddings, RerankResult

EMBEDDINGS = Embeddings(vectors=np.arange(6, dtype=np.float32).reshape(2, 3), model="m")
CLASSIFICATION = Classification(
    label_names=("neg", "pos"),
    logits=np.array([[-1.0, 1.0]], dtype=np.float32),
    probabilities=np.array([[0.12, 0.88]], dtype=np.float32),
    top_labels=(("pos",),),
    top_scores=np.array([[0.88]], dtype=np.float32),
    model="sentiment",
)
RANKING = RerankResult(
    indices=np.array([2, 0, 1]),
    scores=np.array([0.9, 0.5, 0.1], dtype=np.float32),
    raw_scores=np.array([2.2, 0.0, -2.2], dtype=np.float32),
    model="reranker",
)
CASES = [(EMBEDDINGS, EMBEDDINGS.vectors), (CLASSIFICATION, CLASSIFICATION.probabilities), (RANKING, RANKING.scores)]


@pytest.mark.parametrize(("result", "values"), CASES, ids=["embeddings", "classification", "rerank"])
def test_numpy_sees_the_main_array_of_each_result(result: object, values: np.ndarray) -> None:
    array = np.asarray(result)
    assert array is values, "np.asarray shares the result's array"
    as_double = np.asarray(result, dtype=np.float64)
    assert as_double.dtype == np.float64
    np.testing.assert_array_equal(as_double, values)
    copied = np.array(result)  # copies by default
    np.testing.assert_array_equal(copied, values)
    assert not np.shares_memory(copied, values)


@pytest.mark.parametrize(("result", "values"), CASES, ids=["embeddings", "classification", "rerank"])
def test_the_copy_argument_of_numpy_2_is_honoured(result: object, values: np.ndarray) -> None:
    # numpy 2 calls __array__(dtype=..., copy=...); numpy 1.26 (installed here) never passes copy.
    assert result.__array__(copy=False) is values  # type: ignore[attr-defined]
    assert not np.shares_memory(result.__array__(copy=True), values)  # type: ignore[attr-defined]
    assert result.__array__(np.float32, copy=False) is values  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="needs a copy"):
        result.__array__(np.float64, copy=False)  # type: ignore[attr-defined]
    converted = result.__array__(np.float64, copy=True)  # type: ignore[attr-defined]
    assert converted.dtype == np.float64 and not np.shares_memory(converted, values)


def test_the_ranking_array_is_in_ranked_order() -> None:
    assert np.all(np.diff(np.asarray(RANKING)) <= 0)
