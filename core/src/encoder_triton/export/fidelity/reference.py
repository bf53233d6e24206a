"""Numerical validation of an export against the PyTorch reference, written as a report.

The candidate is exactly what Triton will run (the saved `tokenizer.json` through the runtime's
tokenizer, and the saved ONNX graph through ONNX Runtime); the reference is the model run the
way its authors run it (`SentenceTransformer.encode` for a sentence-transformers folder, the
`transformers` class's forward otherwise). Embeddings are compared by cosine; classifier
probabilities and rerank scores by absolute difference. Every failing text is collected before
anything is raised.

Example:
    >>> report = compare_embeddings(reference, candidate, texts, min_cosine=0.9999)  # doctest: +SKIP
    >>> report.passed, round(report.min_cosine, 5)  # doctest: +SKIP
    (True, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton.export.fidelity.gate import cosine_rows
from encoder_triton.export.graph.pooling import Pooling

#: Minimum cosine similarity to the reference, per text, for an fp32 export.
FP32_MIN_COSINE = 0.9999
#: Largest absolute difference to the reference of a probability or a rerank score (fp32).
FP32_MAX_ABS_ERROR = 1e-4


@dataclass(frozen=True)
class FidelityReport:
    """How close the export is to the reference, over a fixed set of texts."""

    texts: int
    min_cosine: float
    mean_cosine: float
    max_abs_error: float
    threshold_min_cosine: float
    failures: list[str] = field(default_factory=list)
    # Classifiers and rerankers are gated on absolute error, and classifiers report how often
    # the top label agrees with the reference's.
    threshold_max_abs_error: float | None = None
    label_agreement: float | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def compare_embeddings(
    reference: np.ndarray, candidate: np.ndarray, texts: Sequence[str], *, min_cosine: float
) -> FidelityReport:
    """Compare row by row; every text below `min_cosine` becomes one failure line."""
    if reference.shape != candidate.shape:
        return FidelityReport(
            texts=len(texts),
            min_cosine=0.0,
            mean_cosine=0.0,
            max_abs_error=float("inf"),
            threshold_min_cosine=min_cosine,
            failures=[f"shape {candidate.shape} differs from the reference's {reference.shape}"],
        )
    cos = cosine_rows(reference, candidate)
    failures = [
        f"text {i} ({texts[i][:40]!r}): cosine {c:.6f} < {min_cosine}"
        for i, c in enumerate(cos)
        if not c >= min_cosine  # also catches NaN
    ]
    return FidelityReport(
        texts=len(texts),
        min_cosine=float(np.nanmin(cos)),
        mean_cosine=float(np.nanmean(cos)),
        max_abs_error=float(np.max(np.abs(reference - candidate))),
        threshold_min_cosine=min_cosine,
        failures=failures,
    )


def compare_scores(
    reference: np.ndarray, candidate: np.ndarray, rows: Sequence[str], *, max_abs_error: float
) -> FidelityReport:
    """Compare probabilities [n, labels] or scores [n, 1] row by row on absolute difference.

    Cosine is reported over each row for several labels and over the whole column for one.
    """
    if reference.shape != candidate.shape:
        return FidelityReport(
            texts=len(rows),
            min_cosine=0.0,
            mean_cosine=0.0,
            max_abs_error=float("inf"),
            threshold_min_cosine=0.0,
            failures=[f"shape {candidate.shape} differs from the reference's {reference.shape}"],
            threshold_max_abs_error=max_abs_error,
        )
    reference = np.asarray(reference, dtype=np.float64).reshape(len(rows), -1)
    candidate = np.asarray(candidate, dtype=np.float64).reshape(len(rows), -1)
    errors = np.abs(reference - candidate).max(axis=1)
    failures = [
        f"row {i} ({rows[i][:40]!r}): max abs error {e:.2e} > {max_abs_error}"
        for i, e in enumerate(errors)
        if not e <= max_abs_error  # also catches NaN
    ]
    if reference.shape[1] > 1:
        cos = cosine_rows(reference, candidate)
        agreement: float | None = float(np.mean(reference.argmax(axis=1) == candidate.argmax(axis=1)))
    else:
        cos = cosine_rows(reference.T, candidate.T)
        agreement = None
    return FidelityReport(
        texts=len(rows),
        min_cosine=float(np.nanmin(cos)),
        mean_cosine=float(np.nanmean(cos)),
        max_abs_error=float(np.max(errors)),
        threshold_min_cosine=0.0,
        failures=failures,
        threshold_max_abs_error=max_abs_error,
        label_agreement=agreement,
    )


def reference_logits(
    model_dir: Path,
    texts: Sequence[str],
    *,
    max_length: int,
    queries: Sequence[str] | None = None,
    model_class: str = "AutoModelForSequenceClassification",
) -> np.ndarray:
    """Logits [n, labels] from PyTorch; with `queries`, of the (query, text) pairs tokenised
    under the runtime's pair truncation rule."""
    import torch
    import transformers

    from encoder_triton.runtime.tokenization import pair_truncation

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = getattr(transformers, model_class).from_pretrained(model_dir).eval()
    if queries is None:
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    else:
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        encoded = []
        for query, text in zip(queries, texts, strict=True):
            query_tokens = len(tokenizer(query, add_special_tokens=False)["input_ids"])
            strategy = pair_truncation(query_tokens, specials, max_length)
            encoded.append(tokenizer(query, text, truncation=strategy, max_length=max_length))
        width = max(len(e["input_ids"]) for e in encoded)
        batch = {
            key: torch.tensor(
                [
                    e[key] + [tokenizer.pad_token_id if key == "input_ids" else 0] * (width - len(e[key]))
                    for e in encoded
                ]
            )
            for key in encoded[0].keys()
        }
    with torch.inference_mode():
        return model(**batch).logits.float().numpy()


def reference_embeddings(
    model_dir: Path,
    texts: Sequence[str],
    *,
    max_length: int,
    pooling: Pooling,
    sentence_transformer: bool,
    model_class: str = "AutoModel",
) -> np.ndarray:
    """Embeddings from PyTorch: sentence-transformers itself when the folder is one."""
    import torch

    if sentence_transformer:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_dir), device="cpu")
        model.max_seq_length = max_length
        # Small batches: encode() sorts by length, so the one over-long reference text pads only
        # three others to the limit (all-mpnet-base-v2: 21 s -> 11 s for the 24 texts at 384 tokens).
        return np.asarray(model.encode(list(texts), batch_size=4, convert_to_numpy=True))

    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = getattr(transformers, model_class).from_pretrained(model_dir).eval()
    with torch.inference_mode():
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        return _pool_torch(hidden, batch["attention_mask"], pooling).numpy()


def _pool_torch(hidden: Any, mask: Any, pooling: Pooling) -> Any:
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    count = m.sum(1).clamp(min=1e-9)
    parts = []
    for mode in pooling.modes:
        if mode == "cls":
            parts.append(hidden[:, 0])
        elif mode == "max":
            parts.append(hidden.masked_fill(m == 0, -1e9).max(1).values)
        elif mode == "mean":
            parts.append((hidden * m).sum(1) / count)
        elif mode == "mean_sqrt_len":
            parts.append((hidden * m).sum(1) / count.sqrt())
        elif mode == "lasttoken":
            last = mask.sum(1) - 1
            parts.append(hidden[torch.arange(hidden.shape[0]), last])
    pooled = torch.cat(parts, dim=-1)
    if pooling.normalize:
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
    return pooled
