"""Task metrics: how far a candidate's outputs are from the reference's, in the task's terms.

    task      metrics (all reported)                         gated by
    embed     min / mean cosine, max / mean abs error        min_cosine, mean_cosine
    classify  label agreement, min / mean cosine, abs error  label_agreement, min_cosine, max_abs_error
    rerank    Spearman rank correlation, abs error           spearman, max_abs_error

A task plugs in with `register_task_metrics`: a function from reference and candidate arrays
(one row per text) to a `Measurement`, and which of its metrics the threshold table's bounds
apply to; the rest are reported, not gated. A metric that summarises rows (a minimum, a mean,
an agreement rate) keeps its per-row values, so a failure can name the texts behind it.

`cosine_rows` is the one row-wise cosine of the project (the int8 search, the GPU check and the
tests use it too).

Example:
    >>> import numpy as np
    >>> cosine_rows(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])).round(4)
    array([0.7071])
    >>> measure("rerank", np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.4, 0.95])).metrics["spearman"]
    1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Measurement:
    """A candidate's named metrics against the reference, with the per-row values behind them."""

    metrics: dict[str, float]
    #: Metric name -> one value per row (the cosine of each text for min_cosine, ...).
    rows: dict[str, np.ndarray] = field(default_factory=dict)


TaskMetrics = Callable[[np.ndarray, np.ndarray], Measurement]
_TASK_METRICS: dict[str, tuple[TaskMetrics, tuple[str, ...]]] = {}


def register_task_metrics(task: str, gated: Sequence[str]) -> Callable[[TaskMetrics], TaskMetrics]:
    """Decorator: `fn(reference, candidate) -> Measurement` measures `task`; `gated` names the
    metrics the precision's bounds apply to."""

    def register(fn: TaskMetrics) -> TaskMetrics:
        _TASK_METRICS[task] = (fn, tuple(gated))
        return fn

    return register


def gated_metrics(task: str) -> tuple[str, ...]:
    """The metrics of `task` that the threshold table's bounds apply to."""
    return _registered(task)[1]


def measure(task: str, reference: np.ndarray, candidate: np.ndarray) -> Measurement:
    """`task`'s metrics of `candidate` against `reference` (same shape, one row per text)."""
    return _registered(task)[0](reference, candidate)


def _registered(task: str) -> tuple[TaskMetrics, tuple[str, ...]]:
    if task not in _TASK_METRICS:
        raise ValueError(f"no fidelity metrics registered for task {task!r}; known: {sorted(_TASK_METRICS)}")
    return _TASK_METRICS[task]


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


def _abs_errors(reference: np.ndarray, candidate: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """max / mean absolute error over every value, and each row's largest."""
    diff = np.abs(np.asarray(reference, dtype=np.float64) - np.asarray(candidate, dtype=np.float64))
    per_row = diff.reshape(len(diff), -1).max(axis=1)
    return {"max_abs_error": float(np.max(diff)), "mean_abs_error": float(np.mean(diff))}, per_row


@register_task_metrics("embed", gated=("min_cosine", "mean_cosine"))
def embedding_metrics(reference: np.ndarray, candidate: np.ndarray) -> Measurement:
    """Embeddings [n, dim]: does each text keep its direction."""
    cos = cosine_rows(reference, candidate)
    errors, per_row_error = _abs_errors(reference, candidate)
    return Measurement(
        # NaN propagates through min and mean, and NaN fails every bound.
        {"min_cosine": float(np.min(cos)), "mean_cosine": float(np.mean(cos)), **errors},
        rows={"min_cosine": cos, "mean_cosine": cos, "max_abs_error": per_row_error},
    )


@register_task_metrics("classify", gated=("label_agreement", "min_cosine", "max_abs_error"))
def classification_metrics(reference: np.ndarray, candidate: np.ndarray) -> Measurement:
    """Probabilities (or logits) [n, labels]: does the top label stay, and how far do they move."""
    agree = (np.argmax(reference, axis=1) == np.argmax(candidate, axis=1)).astype(np.float64)
    cos = cosine_rows(reference, candidate)
    errors, per_row_error = _abs_errors(reference, candidate)
    return Measurement(
        {
            "label_agreement": float(np.mean(agree)),
            "min_cosine": float(np.min(cos)),
            "mean_cosine": float(np.mean(cos)),
            **errors,
        },
        rows={"label_agreement": agree, "min_cosine": cos, "mean_cosine": cos, "max_abs_error": per_row_error},
    )


@register_task_metrics("rerank", gated=("spearman", "max_abs_error"))
def rerank_metrics(reference: np.ndarray, candidate: np.ndarray) -> Measurement:
    """Scores [n] of query-document pairs: is the ranking the same, and how far do they move."""
    errors, per_row_error = _abs_errors(reference, candidate)
    return Measurement({"spearman": spearman(reference, candidate), **errors}, rows={"max_abs_error": per_row_error})
