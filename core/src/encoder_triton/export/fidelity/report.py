"""The one fidelity report: a model's outputs against PyTorch's, and whether they passed.

The same type records the fp32 ONNX export's check (`fp32_fidelity` in export_report.json)
and the served artefact's gate (`fidelity`); when the served artefact is that fp32 graph, the
two are one report.

Example:
    >>> report = FidelityReport(task="embed", precision="int8", texts=24,
    ...                         metrics={"min_cosine": 0.991, "mean_cosine": 0.997},
    ...                         thresholds={"min_cosine": 0.98, "mean_cosine": 0.99})
    >>> report.passed, report.summary()
    (True, 'int8 vs PyTorch on 24 texts: min_cosine 0.991 (>= 0.98), mean_cosine 0.997 (>= 0.99)')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from encoder_triton.export.fidelity.thresholds import UPPER_BOUNDS


@dataclass(frozen=True)
class FidelityReport:
    """Every number measured, the bounds that applied, and one line per failing check."""

    task: str
    precision: str
    texts: int
    metrics: dict[str, float]
    #: The bounds that applied: the precision's row, limited to the metrics the task gates.
    thresholds: dict[str, float]
    #: One line per failing check: metric, value, bound, precision, and the texts that failed it.
    failures: list[str] = field(default_factory=list)
    #: The ONNX Runtime providers (or "TensorRT") that produced the candidate outputs.
    runner: list[str] = field(default_factory=list)
    accepted_degraded: bool = False
    #: Why no number was measured (no provider here can run the artefact); empty when measured.
    skipped: str = ""
    #: What ran as the candidate ("fp32 ONNX export", "int8 onnx fused", ...).
    artefact: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures and not self.skipped

    @property
    def min_cosine(self) -> float:
        return self.metrics.get("min_cosine", float("nan"))

    @property
    def mean_cosine(self) -> float:
        return self.metrics.get("mean_cosine", float("nan"))

    @property
    def max_abs_error(self) -> float:
        return self.metrics.get("max_abs_error", float("nan"))

    @property
    def label_agreement(self) -> float:
        return self.metrics.get("label_agreement", float("nan"))

    @property
    def threshold_max_abs_error(self) -> float | None:
        """The bound on max_abs_error where the task is judged by it (classify, rerank), else None."""
        return self.thresholds.get("max_abs_error")

    def summary(self) -> str:
        """One line for the console: the gated metrics against their bounds."""
        if self.skipped:
            return f"{self.precision}: fidelity not measured ({self.skipped})"
        parts = []
        for name, bound in self.thresholds.items():
            if name in self.metrics:
                sign = "<=" if name in UPPER_BOUNDS else ">="
                parts.append(f"{name} {self.metrics[name]:.6g} ({sign} {bound})")
        return f"{self.precision} vs PyTorch on {self.texts} texts: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The report as export_report.json holds it (`passed` included)."""
        return {**asdict(self), "passed": self.passed}
