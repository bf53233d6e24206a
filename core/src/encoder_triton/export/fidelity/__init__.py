"""Every check of an exported model against PyTorch: one report, one threshold table, one check.

    texts.py       the fixed reference texts (and reranker pairs) every export is judged on
    reference.py   what PyTorch answers on them, for the task the export serves
    metrics.py     the task's metrics (cosine rows, abs error, label agreement, Spearman)
    thresholds.py  the threshold table: the bounds of each precision, fp32 included
    compare.py     `evaluate`: the metrics against the bounds, every failing check named
    report.py      `FidelityReport`, written into export_report.json

The export pipeline judges the fp32 ONNX export with the fp32 row (a failure there is an export
bug) and the served artefact with its precision's row; when the served artefact is that fp32
graph, the first report is the gate.

Example:
    >>> import numpy as np
    >>> from encoder_triton.export.fidelity import Thresholds, evaluate
    >>> reference = np.eye(3)
    >>> report = evaluate("embed", "int8", reference, reference + 0.01, ["a", "b", "c"])
    >>> report.passed, report.thresholds
    (True, {'min_cosine': 0.98, 'mean_cosine': 0.99})
    >>> strict = evaluate("embed", "int8", reference, reference + 0.01, ["a", "b", "c"],
    ...                   thresholds=Thresholds(min_cosine=0.99999))
    >>> strict.failures[0].split(";")[0]
    'min_cosine 0.999902 < 0.99999 (int8)'
"""

from encoder_triton.export.fidelity.compare import bounds_for, evaluate, not_measured
from encoder_triton.export.fidelity.metrics import (
    Measurement,
    cosine_rows,
    gated_metrics,
    measure,
    register_task_metrics,
    spearman,
)
from encoder_triton.export.fidelity.reference import Reference, reference_embeddings, reference_logits, task_reference
from encoder_triton.export.fidelity.report import FidelityReport
from encoder_triton.export.fidelity.texts import REFERENCE_QUERIES, REFERENCE_TEXTS, reference_pairs
from encoder_triton.export.fidelity.thresholds import (
    DEFAULT_THRESHOLDS,
    UPPER_BOUNDS,
    Thresholds,
    holds,
    thresholds_for,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "REFERENCE_QUERIES",
    "REFERENCE_TEXTS",
    "UPPER_BOUNDS",
    "FidelityReport",
    "Measurement",
    "Reference",
    "Thresholds",
    "bounds_for",
    "cosine_rows",
    "evaluate",
    "gated_metrics",
    "holds",
    "measure",
    "not_measured",
    "reference_embeddings",
    "reference_logits",
    "reference_pairs",
    "register_task_metrics",
    "spearman",
    "task_reference",
    "thresholds_for",
]
