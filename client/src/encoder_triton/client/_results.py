"""Typed results of `classify` and `rerank`: frozen dataclasses over numpy arrays.

Both are built from the raw ensemble outputs by pure functions (`classification_from`,
`rerank_from`), so top-k and ordering are tested without a server.

Example:
    >>> import numpy as np
    >>> result = classification_from(np.array([[0.1, 2.0]]), np.array([[0.13, 0.87]]), ("neg", "pos"))
    >>> result.labels, result.top_scores.round(2).tolist()
    (['pos'], [[0.87]])
    >>> ranked = rerank_from(np.array([[0.2], [0.9]]), np.array([[-1.4], [2.2]]), ["a", "b"], top_k=1)
    >>> ranked.indices.tolist(), ranked.documents
    ([1], ('b',))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from encoder_triton.client._exceptions import InvalidInputError


@dataclass(frozen=True)
class Classification:
    """Labels and scores for each text, in the order of the texts.

    `top_labels[i]` are the k best labels of text i, best first, with their probabilities in
    `top_scores[i]`; `probabilities` and `logits` hold every label, in `label_names` order.
    For a multi-label model the probabilities are independent sigmoids (they need not sum to 1).
    """

    label_names: tuple[str, ...]
    logits: np.ndarray  # float32 [texts, labels]
    probabilities: np.ndarray  # float32 [texts, labels]
    top_labels: tuple[tuple[str, ...], ...]
    top_scores: np.ndarray  # float32 [texts, k]
    multi_label: bool = False

    @property
    def labels(self) -> list[str]:
        """The best label of each text."""
        return [row[0] for row in self.top_labels]

    def __len__(self) -> int:
        return int(self.probabilities.shape[0])


@dataclass(frozen=True)
class RerankResult:
    """Documents ranked by relevance to the query, best first.

    `indices[j]` is the position, in the documents passed, of the j-th best; `scores` are
    sigmoid scores in [0, 1], `raw_scores` the cross-encoder's logits, in the same order.
    `documents` holds the texts in that order when asked for (`return_documents=True`).
    """

    indices: np.ndarray  # int64 [k]
    scores: np.ndarray  # float32 [k]
    raw_scores: np.ndarray  # float32 [k]
    documents: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def check_top_k(top_k: int | None, available: int) -> int:
    """`top_k` clamped to what is available (None means all); below 1 is an error."""
    if top_k is None:
        return available
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive integer or None, got {top_k!r}")
    return min(int(top_k), available)


def classification_from(
    logits: np.ndarray,
    probabilities: np.ndarray,
    label_names: Sequence[str],
    *,
    top_k: int | None = 1,
    multi_label: bool = False,
) -> Classification:
    """Build a Classification from the ensemble's LOGITS and PROBABILITIES [texts, labels]."""
    k = check_top_k(top_k, len(label_names))
    # Stable sort on the negated scores: ties keep label order, so results are deterministic.
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    names = tuple(label_names)
    return Classification(
        label_names=names,
        logits=logits,
        probabilities=probabilities,
        top_labels=tuple(tuple(names[j] for j in row) for row in order),
        top_scores=np.take_along_axis(probabilities, order, axis=1),
        multi_label=multi_label,
    )


def rerank_from(
    scores: np.ndarray,
    raw_scores: np.ndarray,
    documents: Sequence[str] | None,
    *,
    top_k: int | None = None,
) -> RerankResult:
    """Build a RerankResult from the ensemble's SCORE and RAW_SCORE [documents, 1]."""
    flat_scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    flat_raw = np.asarray(raw_scores, dtype=np.float32).reshape(-1)
    k = check_top_k(top_k, len(flat_scores))
    # Rank on the raw scores: sigmoid saturates to exactly 1.0 for strong matches in float32.
    order = np.argsort(-flat_raw, kind="stable")[:k]
    return RerankResult(
        indices=order.astype(np.int64),
        scores=flat_scores[order],
        raw_scores=flat_raw[order],
        documents=None if documents is None else tuple(documents[i] for i in order),
    )
