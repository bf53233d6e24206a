"""The fidelity gate: the served encoder against the PyTorch reference, per task and precision.

Every export runs the artefact it will serve (fp32, optimised, fp16, int8 ONNX or a TensorRT
engine) on the fixed reference texts and compares its outputs with PyTorch's. Which numbers
matter depends on the task, and how close they must be depends on the precision:

    task      metrics (all reported)                         gated by
    embed     min / mean cosine, max / mean abs error        min_cosine, mean_cosine
    classify  label agreement, min cosine, abs error         label_agreement, min_cosine, max_abs_error
    rerank    Spearman rank correlation, abs error           spearman, max_abs_error

    precision  min_cosine  mean_cosine  label_agreement  spearman  max_abs_error
    fp32       0.9999      -            -                -         1e-4
    fp16       0.999       -            -                -         1e-2
    int8       0.98        0.99         0.99             0.99      -

fp32 and fp16 bound the absolute error of probabilities and scores instead of labels and
ranks: a bound that tight already implies the answers, while ranks and argmaxes flip on
near-ties (tiny random rerankers score every pair alike: Spearman 0.82 at fp32 with errors
within 1e-4).

A task plugs in with `register_task_metrics` (a function from reference and candidate arrays to
named numbers, and which of them its bounds apply to); the rest are reported, not gated. Below a
threshold the export fails with every number unless the user accepts a degraded model, which
is then recorded in the report.

Example:
    >>> import numpy as np
    >>> reference = np.eye(3)
    >>> report = evaluate("embed", "int8", reference, reference + 0.01, ["a", "b", "c"])
    >>> report.passed, round(report.metrics["min_cosine"], 4)
    (True, 0.9999)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

#: How many failing texts one failure line names.
_NAMED_TEXTS = 5


@dataclass(frozen=True)
class Thresholds:
    """Bounds the served model must meet; None leaves a metric ungated (still reported)."""

    min_cosine: float | None = None
    mean_cosine: float | None = None
    label_agreement: float | None = None
    spearman: float | None = None
    max_abs_error: float | None = None

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}


DEFAULT_THRESHOLDS: dict[str, Thresholds] = {
    "fp32": Thresholds(min_cosine=0.9999, max_abs_error=1e-4),
    "fp16": Thresholds(min_cosine=0.999, max_abs_error=1e-2),
    "int8": Thresholds(min_cosine=0.98, mean_cosine=0.99, label_agreement=0.99, spearman=0.99),
}

#: Metrics where bigger is worse (the threshold is an upper bound).
_UPPER_BOUNDS = {"max_abs_error"}

TaskMetrics = Callable[[np.ndarray, np.ndarray], dict[str, Any]]
_TASK_METRICS: dict[str, tuple[TaskMetrics, tuple[str, ...]]] = {}


def register_task_metrics(task: str, gated: Sequence[str]) -> Callable[[TaskMetrics], TaskMetrics]:
    """Decorator: `fn(reference, candidate) -> {metric: float, "per_text_cosine": array?}`;
    `gated` names the metrics the precision's bounds apply to."""

    def register(fn: TaskMetrics) -> TaskMetrics:
        _TASK_METRICS[task] = (fn, tuple(gated))
        return fn

    return register


def thresholds_for(precision: str, overrides: Thresholds | None = None) -> Thresholds:
    """The default thresholds of `precision`, with any field set in `overrides` replacing it."""
    base = DEFAULT_THRESHOLDS[precision]
    if overrides is None:
        return base
    return replace(base, **overrides.to_dict())


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [n, d] arrays (float64, NaN stays NaN)."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.sum(a * b, axis=1) / np.maximum(norms, 1e-12)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two score vectors (average ranks for ties)."""

    def ranks(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        order = np.argsort(x, kind="stable")
        ranked = np.empty(len(x))
        ranked[order] = np.arange(len(x), dtype=np.float64)
        for value in np.unique(x):  # ties share their mean rank
            tied = x == value
            if tied.sum() > 1:
                ranked[tied] = ranked[tied].mean()
        return ranked

    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def _errors(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    diff = np.abs(np.asarray(reference, dtype=np.float64) - np.asarray(candidate, dtype=np.float64))
    return {"max_abs_error": float(np.max(diff)), "mean_abs_error": float(np.mean(diff))}


@register_task_metrics("embed", gated=("min_cosine", "mean_cosine"))
def embedding_metrics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    cos = cosine_rows(reference, candidate)
    return {
        "min_cosine": float(np.min(cos)),  # NaN propagates, and NaN fails every bound
        "mean_cosine": float(np.mean(cos)),
        **_errors(reference, candidate),
        "per_text_cosine": cos,
    }


@register_task_metrics("classify", gated=("label_agreement", "min_cosine", "max_abs_error"))
def classification_metrics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    """Probabilities (or logits) [n, labels]: does the top label stay, and how far do they move."""
    agree = np.argmax(reference, axis=1) == np.argmax(candidate, axis=1)
    cos = cosine_rows(reference, candidate)
    return {
        "label_agreement": float(np.mean(agree)),
        "min_cosine": float(np.min(cos)),
        "mean_cosine": float(np.mean(cos)),
        **_errors(reference, candidate),
        "per_text_cosine": cos,
    }


@register_task_metrics("rerank", gated=("spearman", "max_abs_error"))
def rerank_metrics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    """Scores [n] of query-document pairs: is the ranking the same."""
    return {"spearman": spearman(reference, candidate), **_errors(reference, candidate)}


@dataclass(frozen=True)
class GateReport:
    """The served artefact's agreement with PyTorch, and whether it passed."""

    task: str
    precision: str
    texts: int
    metrics: dict[str, float]
    thresholds: dict[str, float]
    failures: list[str] = field(default_factory=list)
    #: The ONNX Runtime providers (or "TensorRT") that produced the candidate outputs.
    runner: list[str] = field(default_factory=list)
    accepted_degraded: bool = False
    #: Why no number was measured (no provider here can run the artefact); empty when measured.
    skipped: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures and not self.skipped

    @property
    def min_cosine(self) -> float:
        return self.metrics.get("min_cosine", float("nan"))

    @property
    def mean_cosine(self) -> float:
        return self.metrics.get("mean_cosine", float("nan"))

    def summary(self) -> str:
        """One line for the console: the gated metrics against their bounds."""
        if self.skipped:
            return f"{self.precision}: fidelity not measured ({self.skipped})"
        parts = []
        for name, bound in self.thresholds.items():
            if name in self.metrics:
                sign = "<=" if name in _UPPER_BOUNDS else ">="
                parts.append(f"{name} {self.metrics[name]:.6g} ({sign} {bound})")
        return f"{self.precision} vs PyTorch on {self.texts} texts: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def evaluate(
    task: str,
    precision: str,
    reference: np.ndarray,
    candidate: np.ndarray,
    texts: Sequence[str],
    *,
    thresholds: Thresholds | None = None,
    runner: Sequence[str] = (),
) -> GateReport:
    """Measure `candidate` against `reference` (one row per text) and check the bounds.

    `thresholds` replaces the precision's defaults field by field. Failure lines name the
    metric, its value and bound, and the worst texts.
    """
    if task not in _TASK_METRICS:
        raise ValueError(f"no fidelity metrics registered for task {task!r}; known: {sorted(_TASK_METRICS)}")
    bounds = thresholds_for(precision, thresholds)
    if np.shape(reference) != np.shape(candidate):
        return GateReport(
            task=task,
            precision=precision,
            texts=len(texts),
            metrics={},
            thresholds=bounds.to_dict(),
            failures=[f"output shape {np.shape(candidate)} differs from the reference's {np.shape(reference)}"],
            runner=list(runner),
        )
    metrics_of, gated = _TASK_METRICS[task]
    measured = metrics_of(reference, candidate)
    per_text = measured.pop("per_text_cosine", None)
    applicable = {k: v for k, v in bounds.to_dict().items() if k in gated and k in measured}
    failures = []
    for name, bound in applicable.items():
        value = measured[name]
        upper = name in _UPPER_BOUNDS
        ok = value <= bound if upper else value >= bound  # NaN fails both ways
        if not ok:
            line = f"{name} {value:.6g} {'>' if upper else '<'} {bound} ({precision})"
            if per_text is not None and name in ("min_cosine", "mean_cosine"):
                line += "; worst texts: " + _worst_texts(per_text, texts)
            failures.append(line)
    return GateReport(
        task=task,
        precision=precision,
        texts=len(texts),
        metrics={k: float(v) for k, v in measured.items()},
        thresholds=applicable,
        failures=failures,
        runner=list(runner),
    )


def _worst_texts(per_text: np.ndarray, texts: Sequence[str]) -> str:
    order = np.argsort(np.nan_to_num(per_text, nan=-np.inf))[:_NAMED_TEXTS]
    return ", ".join(f"{i} {texts[i][:30]!r} cos {per_text[i]:.4f}" for i in order)
