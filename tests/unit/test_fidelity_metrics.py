"""Task metrics: one row-wise cosine, Spearman with ties, per-row values, tasks that plug in."""

import numpy as np
import pytest

from encoder_triton.export.fidelity import Measurement, cosine_rows, evaluate, measure, register_task_metrics, spearman


def test_cosine_rows() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(cosine_rows(a, a), [1.0, 1.0])
    np.testing.assert_allclose(cosine_rows(a, a[::-1]), [0.0, 0.0])
    assert cosine_rows(np.zeros((1, 2)), a[:1])[0] == 0.0  # a zero row does not divide by zero
    assert np.isnan(cosine_rows(np.array([[np.nan, 1.0]]), a[:1])[0])  # NaN stays NaN


def test_spearman_is_rank_correlation() -> None:
    scores = np.array([0.1, 0.5, 0.9, 0.3, 0.7])
    assert spearman(scores, scores * 2 + 1) == pytest.approx(1.0)
    assert spearman(scores, -scores) == pytest.approx(-1.0)
    assert spearman(scores, np.array([0.1, 0.5, 0.9, 0.7, 0.3])) == pytest.approx(0.6)


def test_spearman_averages_tied_ranks() -> None:
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.8660254)


def test_each_task_keeps_the_per_row_values_behind_its_metrics() -> None:
    reference = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    candidate = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    classify = measure("classify", reference, candidate)
    assert classify.metrics["label_agreement"] == pytest.approx(2 / 3)
    np.testing.assert_array_equal(classify.rows["label_agreement"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(classify.rows["max_abs_error"], [0.0, 0.0, 0.2])
    assert classify.metrics["max_abs_error"] == pytest.approx(0.2)
    assert classify.metrics["mean_abs_error"] == pytest.approx(0.4 / 6)

    embed = measure("embed", np.eye(2), np.array([[1.0, 0.0], [1.0, 1.0]]))
    np.testing.assert_allclose(embed.rows["min_cosine"], [1.0, np.sqrt(0.5)])
    assert embed.metrics["mean_cosine"] == pytest.approx((1 + np.sqrt(0.5)) / 2)

    rerank = measure("rerank", np.array([0.1, 0.5]), np.array([0.1, 0.7]))
    np.testing.assert_allclose(rerank.rows["max_abs_error"], [0.0, 0.2])
    assert set(rerank.metrics) == {"spearman", "max_abs_error", "mean_abs_error"}


def test_a_task_plugs_in_its_own_metrics() -> None:
    @register_task_metrics("unit-test-task", gated=("spearman",))
    def metrics(reference: np.ndarray, candidate: np.ndarray) -> Measurement:
        return Measurement({"spearman": 0.5})

    assert evaluate("unit-test-task", "int8", np.zeros(3), np.zeros(3), ["a", "b", "c"]).failures
    with pytest.raises(ValueError, match="no fidelity metrics registered for task 'nope'"):
        evaluate("nope", "fp32", np.zeros(3), np.zeros(3), ["a", "b", "c"])
