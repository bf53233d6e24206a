"""`EncoderClient`: typed task methods over a Triton transport.

Each method checks, from the served ensemble's config (read once per model), that the model
serves its task, then calls the ensemble and shapes the answer: `embed` -> float32 array,
`classify` -> `Classification`, `rerank` -> `RerankResult`.

Example:
    >>> from encoder_triton.client import EncoderClient
    >>> with EncoderClient("127.0.0.1:8001") as client:  # doctest: +SKIP
    ...     vectors = client.embed(["hello", "world"], model="minilm")
    ...     topics = client.classify(["Shares fell 5%."], model="bbc_news").labels
    ...     best = client.rerank("what is triton?", ["Triton serves models.", "Cats."], model="reranker").indices[0]
    >>> vectors.shape, topics, best  # doctest: +SKIP
    ((2, 384), ['business'], 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.client._exceptions import InvalidInputError
from encoder_triton.client._model_info import ModelInfo
from encoder_triton.client._results import (
    Classification,
    RerankResult,
    check_top_k,
    classification_from,
    rerank_from,
)
from encoder_triton.client._transport import Protocol, TritonTransport
from encoder_triton.contract import Task


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
            rows[index, 0] = text.encode("utf-8", errors="strict")
        elif isinstance(text, bytes):
            rows[index, 0] = text  # the server validates the encoding
        else:
            raise InvalidInputError(f"text {index} has type {type(text).__name__}: pass strings")
    return rows


class EncoderClient:
    """A client for the ensembles `encoder-triton export` writes, over Triton gRPC or HTTP.

    `url` is `host:port` (gRPC 8001 or HTTP 8000 by Triton's convention).
    """

    def __init__(
        self,
        url: str = "127.0.0.1:8001",
        *,
        protocol: Protocol = "grpc",
        timeout: float = 60.0,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._transport = TritonTransport(url, protocol=protocol, timeout=timeout, ssl=ssl, headers=headers)
        self._models: dict[str, ModelInfo] = {}

    def __enter__(self) -> EncoderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def health(self) -> bool:
        """True when the server is ready to serve."""
        return self._transport.is_ready()

    def model_config(self, model: str) -> dict[str, Any]:
        return self._transport.model_config(model)

    def model_info(self, model: str) -> ModelInfo:
        """What `model` serves (task, labels, ...), from its ensemble config; cached per model."""
        if model not in self._models:
            self._models[model] = ModelInfo.from_config(model, self._transport.model_config(model))
        return self._models[model]

    def embed(self, texts: str | Sequence[str], *, model: str, dimensions: int | None = None) -> np.ndarray:
        """Embeddings, float32 [len(texts), dim], in the order of `texts`.

        `dimensions` keeps the first k components (Matryoshka models are trained for it) and
        re-normalises them when the model's embeddings are unit length.
        """
        outputs = self._transport.infer(model, {contract.TEXT: encode_texts(texts)}, [contract.EMBEDDING])
        vectors = outputs[contract.EMBEDDING]
        if dimensions is None:
            return vectors
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= vectors.shape[1]:
            raise InvalidInputError(f"dimensions must be between 1 and {vectors.shape[1]}, got {dimensions!r}")
        vectors = vectors[:, :dimensions]
        if self.model_info(model).normalized:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def classify(self, texts: str | Sequence[str], *, model: str, top_k: int | None = None) -> Classification:
        """Labels and probabilities of each text; `top_k` best labels per text (default 1)."""
        info = self.model_info(model)
        info.require(Task.CLASSIFY, "classify")
        top_k = 1 if top_k is None else top_k
        check_top_k(top_k, max(len(info.labels), 1))  # before the round trip: fail fast
        outputs = self._transport.infer(
            model, {contract.TEXT: encode_texts(texts)}, [contract.LOGITS, contract.PROBABILITIES]
        )
        probabilities = outputs[contract.PROBABILITIES]
        labels = info.labels or tuple(f"LABEL_{i}" for i in range(probabilities.shape[1]))
        return classification_from(
            outputs[contract.LOGITS],
            probabilities,
            labels,
            top_k=top_k,
            multi_label=info.multi_label,
        )

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        model: str,
        top_k: int | None = None,
        return_documents: bool = False,
    ) -> RerankResult:
        """`documents` ranked by relevance to `query`, best first; the `top_k` best (default all)."""
        if not isinstance(query, str | bytes):
            raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
        if isinstance(documents, str | bytes):
            raise InvalidInputError("documents must be a sequence of strings, not one string: wrap it in a list")
        info = self.model_info(model)
        info.require(Task.RERANK, "rerank")
        texts = encode_texts(documents, what="documents")
        check_top_k(top_k, len(texts))
        # One query row per document: the ensemble tokenises row i as the pair (QUERY[i], TEXT[i]).
        queries = np.repeat(encode_texts([query], what="query"), len(texts), axis=0)
        outputs = self._transport.infer(
            model, {contract.QUERY: queries, contract.TEXT: texts}, [contract.SCORE, contract.RAW_SCORE]
        )
        return rerank_from(
            outputs[contract.SCORE],
            outputs[contract.RAW_SCORE],
            list(documents) if return_documents else None,
            top_k=top_k,
        )
