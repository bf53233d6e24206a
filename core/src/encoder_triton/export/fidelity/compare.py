"""Judge a candidate's outputs against PyTorch's: the task's metrics against the precision's bounds.

`evaluate` is the one check of the project: the export pipeline runs it on the fp32 ONNX export
(the fp32 row) and on the served artefact (its precision's row), the int8 search on its
candidates. Every failing check becomes one line naming the metric, its value, the bound, the
precision, and the texts that fail the bound, worst first, so a report says everything at once.

Example:
    >>> import numpy as np
    >>> reference = np.eye(3)
    >>> report = evaluate("embed", "int8", reference, reference + 0.01, ["a", "b", "c"])
    >>> report.passed, round(report.metrics["min_cosine"], 4)
    (True, 0.9999)
    >>> candidate = np.array([[1.0, 0, 0], [1, 1, 0], [0, 0, 1]])
    >>> evaluate("embed", "fp32", reference, candidate, ["a", "b", "c"]).failures
    ["min_cosine 0.707107 < 0.9999 (fp32); worst texts: 1 'b' cos 0.707107 (1 of 3)"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from encoder_triton.export.fidelity.metrics import gated_metrics, measure
from encoder_triton.export.fidelity.report import FidelityReport
from encoder_triton.export.fidelity.thresholds import UPPER_BOUNDS, Thresholds, holds, thresholds_for

#: How a failure line shows one row's value of a metric.
_ROW_VALUE = {
    "min_cosine": ("cos", ".6f"),
    "mean_cosine": ("cos", ".6f"),
    "max_abs_error": ("abs error", ".2e"),
    "label_agreement": ("same label", ".0f"),
}
#: How much of a text a failure line quotes.
_QUOTED_CHARS = 30


def bounds_for(task: str, precision: str, thresholds: Thresholds | None = None) -> dict[str, float]:
    """The bounds `evaluate` applies: the precision's row, with `thresholds` replacing fields,
    limited to the metrics `task` gates."""
    gated = gated_metrics(task)
    return {k: v for k, v in thresholds_for(precision, thresholds).to_dict().items() if k in gated}


def evaluate(
    task: str,
    precision: str,
    reference: np.ndarray,
    candidate: np.ndarray,
    texts: Sequence[str],
    *,
    thresholds: Thresholds | None = None,
    runner: Sequence[str] = (),
    artefact: str = "",
) -> FidelityReport:
    """Measure `candidate` against `reference` (one row per text) and check the bounds.

    `thresholds` replaces the precision's defaults field by field; `runner` and `artefact` say
    what produced `candidate`, for the report.
    """
    bounds = bounds_for(task, precision, thresholds)
    report = FidelityReport(
        task=task,
        precision=precision,
        texts=len(texts),
        metrics={},
        thresholds=bounds,
        runner=list(runner),
        artefact=artefact,
    )
    if np.shape(reference) != np.shape(candidate):
        shape = f"output shape {np.shape(candidate)} differs from the reference's {np.shape(reference)}"
        return replace(report, failures=[shape])
    measured = measure(task, reference, candidate)
    applicable = {k: v for k, v in bounds.items() if k in measured.metrics}
    failures = []
    for name, bound in applicable.items():
        value = measured.metrics[name]
        if not holds(name, value, bound):
            line = f"{name} {value:.6g} {'>' if name in UPPER_BOUNDS else '<'} {bound} ({precision})"
            if name in measured.rows:
                line += "; worst texts: " + _failing_texts(name, measured.rows[name], bound, texts)
            failures.append(line)
    metrics = {k: float(v) for k, v in measured.metrics.items()}
    return replace(report, metrics=metrics, thresholds=applicable, failures=failures)


def not_measured(
    task: str,
    precision: str,
    texts: int,
    reason: str,
    *,
    thresholds: Thresholds | None = None,
    runner: Sequence[str] = (),
    artefact: str = "",
) -> FidelityReport:
    """The report of an artefact nothing here can run: the bounds it would have met, and why."""
    return FidelityReport(
        task=task,
        precision=precision,
        texts=texts,
        metrics={},
        thresholds=bounds_for(task, precision, thresholds),
        runner=list(runner),
        skipped=reason,
        artefact=artefact,
    )


def _failing_texts(metric: str, per_row: np.ndarray, bound: float, texts: Sequence[str]) -> str:
    """Every text whose own value fails `bound`, worst (and NaN) first, with how many failed.

    A mean below its bound always has a row below it; the worst row is named in any case.
    """
    values = np.asarray(per_row, dtype=np.float64).reshape(-1)
    upper = metric in UPPER_BOUNDS
    badness = np.nan_to_num(values if upper else -values, nan=np.inf)
    order = np.argsort(-badness, kind="stable")
    failing = [int(i) for i in order if not holds(metric, float(values[i]), bound)] or [int(order[0])]
    label, spec = _ROW_VALUE.get(metric, (metric, ".6g"))
    named = ", ".join(f"{i} {texts[i][:_QUOTED_CHARS]!r} {label} {values[i]:{spec}}" for i in failing)
    return f"{named} ({len(failing)} of {len(values)})"
