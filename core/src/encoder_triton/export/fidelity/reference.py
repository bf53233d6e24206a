"""What PyTorch answers on the reference rows: the outputs every export is judged against.

The reference is the model run the way its authors run it (`SentenceTransformer.encode` for a
sentence-transformers folder, the `transformers` class's forward otherwise), for the task the
export serves: embeddings, classifier probabilities or rerank scores, with the same head the
graph folds in (pooling, activation). `compare.evaluate` then judges a candidate against it.

Example:
    >>> reference = task_reference(source, architecture, head, max_length=256)  # doctest: +SKIP
    >>> reference.output, reference.values.shape, len(reference.rows)  # doctest: +SKIP
    ('EMBEDDING', (24, 384), 24)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.contract import Task
from encoder_triton.export.fidelity.texts import REFERENCE_TEXTS, reference_pairs
from encoder_triton.export.graph.heads import ClassificationHead
from encoder_triton.export.graph.onnx_export import Head
from encoder_triton.export.graph.pooling import Pooling
from encoder_triton.export.source.architectures import ExportSpec
from encoder_triton.export.source.resolve import ModelSource


@dataclass(frozen=True)
class Reference:
    """PyTorch's answer for the task's judged output on the reference rows."""

    output: str  # the encoder output it is compared with
    values: np.ndarray
    rows: list[str]  # the texts (or "query | document" pairs) the values belong to


def task_reference(
    source: ModelSource,
    architecture: ExportSpec,
    head: Head,
    texts: Sequence[str] = REFERENCE_TEXTS,
    *,
    queries: Sequence[str] | None = None,
    max_length: int,
) -> Reference:
    """The PyTorch reference of the task `head` serves: embeddings, probabilities or rerank
    scores on `texts` (the documents of (query, document) pairs for a reranker: `queries`
    default to the built-in pairs)."""
    if isinstance(head, Pooling):
        embeddings = reference_embeddings(
            source.path,
            texts,
            max_length=max_length,
            pooling=head,
            sentence_transformer=source.is_sentence_transformer,
            model_class=architecture.reference_class(Task.EMBED),
        )
        return Reference(contract.EMBEDDING, embeddings, list(texts))
    if isinstance(head, ClassificationHead):
        logits = reference_logits(
            source.path,
            texts,
            max_length=max_length,
            model_class=architecture.reference_class(Task.CLASSIFY),
        )
        return Reference(contract.PROBABILITIES, head.probabilities(logits), list(texts))
    if queries is None:
        queries, texts = reference_pairs()
    documents = list(texts)
    logits = reference_logits(
        source.path,
        documents,
        queries=queries,
        max_length=max_length,
        model_class=architecture.reference_class(Task.RERANK),
    )
    scores = 1.0 / (1.0 + np.exp(-head.raw_scores(logits)))
    pairs = [f"{q[:20]} | {d}" for q, d in zip(queries, documents, strict=True)]
    return Reference(contract.SCORE, scores, pairs)


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
