"""The body of each task method, written once: what `embed`, `classify` and `rerank` send and
how their answers are assembled. No I/O: both clients execute these through `_base.Plan`.

A task call validates its arguments when it is made (before any round trip), checks what
needs the model's config in `check`, builds the inputs of any slice of its rows, and turns the
outputs of every chunk, in order, into a typed result.

Example:
    >>> call = EmbedCall(["hello", "world"], dimensions=None)
    >>> call.rows, call.outputs, call.inputs(slice(0, 1))["TEXT"].tolist()
    (2, ('EMBEDDING',), [[b'hello']])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np

from encoder_triton import contract
from encoder_triton.client._exceptions import InvalidInputError
from encoder_triton.client._types import Classification, Embeddings, ModelInfo, RerankResult

R = TypeVar("R", Embeddings, Classification, RerankResult)
Outputs = list[dict[str, np.ndarray]]


def encode_texts(texts: str | Sequence[str], *, what: str = "texts") -> np.ndarray:
    """Texts as the BYTES tensor [N, 1] the ensembles take; validates types locally."""
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(texts, bytes) or not isinstance(texts, Sequence):
        raise InvalidInputError(f"{what} must be a string or a sequence of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise InvalidInputError(f"{what} is empty: pass at least one text")
    rows = np.empty((len(texts), 1), dtype=np.object_)
    for index, text in enumerate(texts):
        if isinstance(text, str):
            rows[index, 0] = text.encode("utf-8", errors="surrogatepass")
        elif isinstance(text, bytes):
            rows[index, 0] = text  # the server validates the encoding
        else:
            raise InvalidInputError(f"text {index} has type {type(text).__name__}: pass strings")
    return rows


def encode_pairs(query: str, documents: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """QUERY and TEXT tensors [N, 1] for a rerank: the query repeated once per document (the
    ensemble tokenises row i as the pair (QUERY[i], TEXT[i]))."""
    if not isinstance(query, str | bytes):
        raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
    if isinstance(documents, str | bytes):
        raise InvalidInputError("documents must be a sequence of strings, not one string: wrap it in a list")
    texts = encode_texts(documents, what="documents")
    return np.repeat(encode_texts([query], what="query"), len(texts), axis=0), texts


def check_top_k(top_k: int | None, available: int) -> int:
    """`top_k` clamped to what is available (None means all); below 1 is an error."""
    if top_k is None:
        return available
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive integer or None, got {top_k!r}")
    return min(int(top_k), available)


class TaskCall(Generic[R]):
    """One call of a task method: its rows, the outputs it asks for, how to assemble them."""

    task: contract.Task
    outputs: tuple[str, ...]
    rows: int

    def check(self, info: ModelInfo) -> None:
        """Argument checks that need the model's config; run before any inference."""

    def inputs(self, chunk: slice) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def assemble(self, info: ModelInfo, outputs: Outputs) -> R:
        """The typed result from every chunk's outputs, in input order."""
        raise NotImplementedError


class EmbedCall(TaskCall[Embeddings]):
    task = contract.Task.EMBED
    outputs = (contract.EMBEDDING,)

    def __init__(self, texts: str | Sequence[str], *, dimensions: int | None) -> None:
        self.texts = encode_texts(texts)
        self.rows = len(self.texts)
        self.dimensions = dimensions

    def inputs(self, chunk: slice) -> dict[str, np.ndarray]:
        return {contract.TEXT: self.texts[chunk]}

    def assemble(self, info: ModelInfo, outputs: Outputs) -> Embeddings:
        parts = [o[contract.EMBEDDING] for o in outputs]
        vectors = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if self.dimensions is not None:
            if not 1 <= self.dimensions <= vectors.shape[1]:
                raise InvalidInputError(f"dimensions must lie in 1..{vectors.shape[1]} for {info.name!r}")
            vectors = vectors[:, : self.dimensions]
            if info.normalized:  # Matryoshka truncation keeps unit vectors unit
                vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return Embeddings(vectors=np.ascontiguousarray(vectors, dtype=np.float32), model=info.name)


class ClassifyCall(TaskCall[Classification]):
    task = contract.Task.CLASSIFY
    outputs = (contract.LOGITS, contract.PROBABILITIES)

    def __init__(self, texts: str | Sequence[str], *, top_k: int | None) -> None:
        self.texts = encode_texts(texts)
        self.rows = len(self.texts)
        self.top_k = 1 if top_k is None else top_k

    def check(self, info: ModelInfo) -> None:
        check_top_k(self.top_k, len(info.labels or ()) or 1)

    def inputs(self, chunk: slice) -> dict[str, np.ndarray]:
        return {contract.TEXT: self.texts[chunk]}

    def assemble(self, info: ModelInfo, outputs: Outputs) -> Classification:
        logits = np.concatenate([o[contract.LOGITS] for o in outputs])
        probabilities = np.concatenate([o[contract.PROBABILITIES] for o in outputs])
        names = info.labels or tuple(f"LABEL_{i}" for i in range(probabilities.shape[1]))
        k = check_top_k(check_top_k(self.top_k, len(info.labels or ()) or 1), len(names))
        # Stable sort of the negated scores: ties keep label order, so answers are deterministic.
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        return Classification(
            label_names=names,
            logits=logits,
            probabilities=probabilities,
            top_labels=tuple(tuple(names[j] for j in row) for row in order),
            top_scores=np.take_along_axis(probabilities, order, axis=1),
            model=info.name,
            multi_label=info.multi_label,
        )


class RerankCall(TaskCall[RerankResult]):
    task = contract.Task.RERANK
    outputs = (contract.SCORE, contract.RAW_SCORE)

    def __init__(self, query: str, documents: Sequence[str], *, top_k: int | None, return_documents: bool) -> None:
        self.queries, self.texts = encode_pairs(query, documents)
        self.rows = len(self.texts)
        self.top_k = top_k
        self.documents = tuple(documents) if return_documents else None

    def check(self, info: ModelInfo) -> None:
        check_top_k(self.top_k, self.rows)

    def inputs(self, chunk: slice) -> dict[str, np.ndarray]:
        return {contract.QUERY: self.queries[chunk], contract.TEXT: self.texts[chunk]}

    def assemble(self, info: ModelInfo, outputs: Outputs) -> RerankResult:
        scores = np.concatenate([o[contract.SCORE] for o in outputs]).reshape(-1).astype(np.float32)
        raw = np.concatenate([o[contract.RAW_SCORE] for o in outputs]).reshape(-1).astype(np.float32)
        # Rank on the raw scores: in float32 the sigmoid saturates to 1.0 for strong matches.
        order = np.argsort(-raw, kind="stable")[: check_top_k(self.top_k, len(raw))]
        return RerankResult(
            indices=order.astype(np.int64),
            scores=scores[order],
            raw_scores=raw[order],
            model=info.name,
            documents=None if self.documents is None else tuple(self.documents[i] for i in order),
        )
