"""`evaluate` and its report: per-task metrics against per-precision bounds, every failure named."""

import json

import numpy as np
import pytest

from encoder_triton.export.fidelity import evaluate, not_measured

TEXTS = [f"text {i}" for i in range(6)]


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


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


def test_every_failing_text_is_reported_not_just_the_first() -> None:
    reference = np.eye(4)
    candidate = reference.copy()
    candidate[1] = [1, 1, 0, 0]
    candidate[3] = [0, 0, 1, 0]
    report = evaluate("embed", "fp32", reference, candidate, ["a", "b", "c", "d"])
    assert not report.passed and report.min_cosine == 0.0
    (line,) = report.failures
    # Worst first; the texts that pass are not named.
    assert line.endswith("worst texts: 3 'd' cos 0.000000, 1 'b' cos 0.707107 (2 of 4)")


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
    for precision in ("fp32", "int8"):
        report = evaluate("embed", precision, reference, nan, TEXTS[:3])
        assert not report.passed and "worst texts: 1 'text 1' cos nan" in report.failures[0]
    report = evaluate("embed", "fp32", reference, np.eye(3, 4), TEXTS[:3])
    assert not report.passed and "shape" in report.failures[0]
    assert report.thresholds == {"min_cosine": 0.9999}
    assert not evaluate("classify", "fp32", np.ones((2, 3)), np.ones((2, 4)), TEXTS[:2]).passed


def test_classification_gates_label_agreement() -> None:
    reference = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    flipped = reference.copy()
    flipped[2] = [0.4, 0.6]
    report = evaluate("classify", "int8", reference, flipped, TEXTS[:4])
    assert report.metrics["label_agreement"] == 0.75
    assert any(f.startswith("label_agreement 0.75 < 0.99") and "2 'text 2'" in f for f in report.failures)
    assert evaluate("classify", "int8", reference, reference + 0.001, TEXTS[:4]).passed


def test_fp32_scores_are_gated_on_abs_error_naming_every_row_over_it() -> None:
    reference = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    candidate = reference.copy()
    candidate[[0, 3]] += [[-3e-4, 3e-4], [2e-4, -2e-4]]
    report = evaluate("classify", "fp32", reference, candidate, TEXTS[:4])
    assert report.label_agreement == 1.0 and report.threshold_max_abs_error == 1e-4
    (line,) = report.failures
    assert line.startswith("max_abs_error 0.0003 > 0.0001 (fp32)")
    assert line.endswith("0 'text 0' abs error 3.00e-04, 3 'text 3' abs error 2.00e-04 (2 of 4)")
    rerank = evaluate("rerank", "fp32", reference[:, 0], candidate[:, 0], TEXTS[:4])
    assert rerank.failures == [
        "max_abs_error 0.0003 > 0.0001 (fp32); worst texts: 0 'text 0' abs error 3.00e-04, "
        "3 'text 3' abs error 2.00e-04 (2 of 4)"
    ]
    assert evaluate("embed", "fp32", np.eye(2), np.eye(2), TEXTS[:2]).threshold_max_abs_error is None


def test_rerank_gates_rank_correlation() -> None:
    scores = np.array([0.1, 0.5, 0.9, 0.3, 0.7])
    swapped = np.array([0.1, 0.5, 0.9, 0.7, 0.3])
    report = evaluate("rerank", "int8", scores, swapped, TEXTS[:5])
    assert report.metrics["spearman"] == pytest.approx(0.6)
    assert not report.passed and report.failures[0].startswith("spearman 0.6 < 0.99")


def test_the_report_is_what_export_report_json_holds() -> None:
    report = evaluate("embed", "fp16", np.eye(2), np.eye(2), TEXTS[:2], runner=["CPUExecutionProvider"], artefact="x")
    written = json.loads(json.dumps(report.to_dict()))
    assert written["passed"] and written["runner"] == ["CPUExecutionProvider"] and written["artefact"] == "x"
    assert written["thresholds"] == {"min_cosine": 0.999} and written["metrics"]["min_cosine"] == 1.0
    assert {"task", "precision", "texts", "failures", "accepted_degraded", "skipped"} <= set(written)


def test_an_artefact_nothing_here_runs_is_reported_not_passed() -> None:
    report = not_measured("embed", "fp16", 24, "no provider here runs the fp16 graph", runner=["CPUExecutionProvider"])
    assert not report.passed and report.metrics == {} and report.thresholds == {"min_cosine": 0.999}
    assert report.summary() == "fp16: fidelity not measured (no provider here runs the fp16 graph)"
