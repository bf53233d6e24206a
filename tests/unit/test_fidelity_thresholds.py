"""The threshold table: one row per precision, fp32 included, and which bounds a task gets."""

import pytest

from encoder_triton.export.fidelity import DEFAULT_THRESHOLDS, Thresholds, bounds_for, holds, thresholds_for


def test_defaults_are_the_issue_s_bounds() -> None:
    assert DEFAULT_THRESHOLDS["fp32"].min_cosine == 0.9999
    assert DEFAULT_THRESHOLDS["fp32"].max_abs_error == 1e-4
    assert DEFAULT_THRESHOLDS["fp16"].min_cosine == 0.999
    assert DEFAULT_THRESHOLDS["fp16"].max_abs_error == 1e-2
    int8 = DEFAULT_THRESHOLDS["int8"]
    assert (int8.min_cosine, int8.mean_cosine, int8.label_agreement, int8.spearman) == (0.98, 0.99, 0.99, 0.99)
    assert int8.max_abs_error is None


def test_overrides_replace_only_the_fields_they_set() -> None:
    merged = thresholds_for("int8", Thresholds(min_cosine=0.95))
    assert merged.min_cosine == 0.95 and merged.mean_cosine == 0.99
    assert thresholds_for("fp32", Thresholds()) == DEFAULT_THRESHOLDS["fp32"]


def test_a_task_gets_only_the_bounds_of_the_metrics_it_gates() -> None:
    assert bounds_for("embed", "fp32") == {"min_cosine": 0.9999}
    assert bounds_for("classify", "fp32") == {"min_cosine": 0.9999, "max_abs_error": 1e-4}
    assert bounds_for("rerank", "fp32") == {"max_abs_error": 1e-4}
    assert bounds_for("embed", "int8") == {"min_cosine": 0.98, "mean_cosine": 0.99}
    assert bounds_for("rerank", "int8", Thresholds(spearman=0.5)) == {"spearman": 0.5}


@pytest.mark.parametrize(
    ("metric", "value", "bound", "expected"),
    [
        ("min_cosine", 0.99995, 0.9999, True),
        ("min_cosine", 0.9998, 0.9999, False),
        ("max_abs_error", 5e-5, 1e-4, True),
        ("max_abs_error", 2e-4, 1e-4, False),
        ("min_cosine", float("nan"), 0.0, False),
        ("max_abs_error", float("nan"), 1.0, False),
    ],
)
def test_a_bound_holds_in_its_metric_s_direction_and_nan_never_holds(
    metric: str, value: float, bound: float, expected: bool
) -> None:
    assert holds(metric, value, bound) is expected
