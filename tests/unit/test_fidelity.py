"""The fidelity gate: per-task metrics, per-precision bounds, every failure named."""

import numpy as np
import pytest

from encoder_triton.export.fidelity.gate import (
    DEFAULT_THRESHOLDS,
    Thresholds,
    evaluate,
    register_task_metrics,
    spearman,
    thresholds_for,
)

TEXTS = [f"text {i}" for i in range(6)]


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_defaults_are_the_issue_s_bounds() -> None:
    assert DEFAULT_THRESHOLDS["fp32"].min_cosine == 0.9999
    assert DEFAULT_THRESHOLDS["fp16"].min_cosine == 0.999
    int8 = DEFAULT_THRESHOLDS["int8"]
    assert (int8.min_cosine, int8.mean_cosine, int8.label_agreement, int8.spearman) == (0.98, 0.99, 0.99, 0.99)


def test_overrides_replace_only_the_fields_they_set() -> None:
    merged = thresholds_for("int8", Thresholds(min_cosine=0.95))
    assert merged.min_cosine == 0.95 and merged.mean_cosine == 0.99


def test_identical_embeddings_pass_every_precision() -> None:
    reference = _unit(np.random.default_rng(0).normal(size=(6, 8)))
    for precision in ("fp32", "fp16", "int8"):
        report = evaluate("embed", precision, reference, reference.copy(), TEXTS)
        assert report.passed, report.failures
        assert report.metrics["max_abs_error"] == 0.0
        assert set(report.thresholds) <= {"min_cosine", "mean_cosine"}


def test_the_same_drift_passes_int8_and_fails_fp32_naming_the_worst_texts() -> None:
    rng = np.random.default_rng(1)
    reference = _unit(rng.normal(size=(6, 16)))
    candidate = reference + 0.02 * rng.normal(size=reference.shape)
    assert evaluate("embed", "int8", reference, candidate, TEXTS).passed
    fp32 = evaluate("embed", "fp32", reference, candidate, TEXTS)
    assert not fp32.passed
    (line,) = fp32.failures
    assert line.startswith("min_cosine 0.99") and "< 0.9999 (fp32)" in line and "worst texts: " in line


def test_mean_and_min_fail_separately_with_numbers() -> None:
    reference = np.eye(6)
    candidate = np.eye(6)
    candidate[0] = [1, 1, 0, 0, 0, 0]  # cos 0.707 for one text: min fails, mean 0.951 fails too
    report = evaluate("embed", "int8", reference, candidate, TEXTS)
    assert [f.split(" ")[0] for f in report.failures] == ["min_cosine", "mean_cosine"]
    assert "0.707" in report.failures[0] and "'text 0'" in report.failures[0]
    assert "min_cosine 0.707107 (>= 0.98)" in report.summary()


def test_nan_and_shape_mismatch_fail() -> None:
    reference = np.eye(3)
    nan = reference.copy()
    nan[1, 1] = np.nan
    assert not evaluate("embed", "int8", reference, nan, TEXTS[:3]).passed
    report = evaluate("embed", "fp32", reference, np.eye(3, 4), TEXTS[:3])
    assert not report.passed and "shape" in report.failures[0]


def test_classification_gates_label_agreement() -> None:
    reference = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    flipped = reference.copy()
    flipped[2] = [0.4, 0.6]
    report = evaluate("classify", "int8", reference, flipped, TEXTS[:4])
    assert report.metrics["label_agreement"] == 0.75
    assert any(f.startswith("label_agreement 0.75 < 0.99") for f in report.failures)
    assert evaluate("classify", "int8", reference, reference + 0.001, TEXTS[:4]).passed


def test_rerank_gates_rank_correlation() -> None:
    scores = np.array([0.1, 0.5, 0.9, 0.3, 0.7])
    assert spearman(scores, scores * 2 + 1) == pytest.approx(1.0)
    assert spearman(scores, -scores) == pytest.approx(-1.0)
    swapped = np.array([0.1, 0.5, 0.9, 0.7, 0.3])
    report = evaluate("rerank", "int8", scores, swapped, TEXTS[:5])
    assert report.metrics["spearman"] == pytest.approx(0.6)
    assert not report.passed and report.failures[0].startswith("spearman 0.6 < 0.99")


def test_spearman_averages_tied_ranks() -> None:
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.8660254)


def test_a_task_plugs_in_its_own_metrics() -> None:
    @register_task_metrics("unit-test-task", gated=("spearman",))
    def metrics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
        return {"spearman": 0.5}

    assert evaluate("unit-test-task", "int8", np.zeros(3), np.zeros(3), TEXTS[:3]).failures
    with pytest.raises(ValueError, match="no fidelity metrics registered for task 'nope'"):
        evaluate("nope", "fp32", np.zeros(3), np.zeros(3), TEXTS[:3])
