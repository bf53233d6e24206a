"""The fidelity threshold table: how close to PyTorch each precision must stay. One place.

    precision  min_cosine  mean_cosine  label_agreement  spearman  max_abs_error
    fp32       0.9999      -            -                -         1e-4
    fp16       0.999       -            -                -         1e-2
    int8       0.98        0.99         0.99             0.99      -

The fp32 row judges the ONNX export itself (an export bug, not a precision loss, when it fails)
and the served fp32 artefacts; the others judge what those precisions serve. Which of a row's
bounds apply depends on the task (see `metrics`): a bound that names a metric the task does not
gate is left out.

fp32 and fp16 bound the absolute error of probabilities and scores instead of labels and
ranks: a bound that tight already implies the answers, while ranks and argmaxes flip on
near-ties (tiny random rerankers score every pair alike: Spearman 0.82 at fp32 with errors
within 1e-4).

Example:
    >>> thresholds_for("int8", Thresholds(min_cosine=0.95)).to_dict()
    {'min_cosine': 0.95, 'mean_cosine': 0.99, 'label_agreement': 0.99, 'spearman': 0.99}
    >>> holds("max_abs_error", 2e-5, 1e-4), holds("min_cosine", float("nan"), 0.9)
    (True, False)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Thresholds:
    """Bounds a model must meet; None leaves a metric ungated (still reported)."""

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

#: Metrics where bigger is worse (the threshold is an upper bound); every other one is a lower bound.
UPPER_BOUNDS = frozenset({"max_abs_error"})


def thresholds_for(precision: str, overrides: Thresholds | None = None) -> Thresholds:
    """The table's row for `precision`, with any field set in `overrides` replacing it."""
    base = DEFAULT_THRESHOLDS[precision]
    if overrides is None:
        return base
    return replace(base, **overrides.to_dict())


def holds(metric: str, value: float, bound: float) -> bool:
    """Whether `value` meets `bound` in the metric's direction; NaN never does."""
    return bool(value <= bound) if metric in UPPER_BOUNDS else bool(value >= bound)
