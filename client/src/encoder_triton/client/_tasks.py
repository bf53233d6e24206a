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
from encoder_triton.client._types import Classification, Embeddings, ModelInfo, RerankResult, SparseEmbedding

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


def check_limit(value: int | None, name: str) -> int | None:
    """A per-request token limit: None or a positive integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


def check_long_inputs(value: contract.LongInputs | str | None) -> str | None:
    """A per-request long-input policy: None or a `contract.LongInputs` value."""
    if value is None:
        return None
    try:
        return contract.LongInputs(value).value
    except ValueError:
        choices = ", ".join(p.value for p in contract.LongInputs)
        raise InvalidInputError(f"long_inputs must be one of {choices} or None, got {value!r}") from None


def limit_parameters(
    *,
    max_length: int | None,
    max_text_tokens: int | None = None,
    long_inputs: contract.LongInputs | str | None = None,
) -> dict[str, int | str]:
    """The request parameters (`contract.RequestParam`) that tell the tokenizer step what to do
    with long texts: truncate at `max_length`, cut documents at `max_text_tokens`, a policy."""
    values: dict[str, int | str | None] = {
        contract.RequestParam.MAX_LENGTH: check_limit(max_length, "max_length"),
        contract.RequestParam.MAX_TEXT_TOKENS: check_limit(max_text_tokens, "max_document_tokens"),
        contract.RequestParam.LONG_INPUTS: check_long_inputs(long_inputs),
    }
    return {key: value for key, value in values.items() if value is not None}


def check_embedding_outputs(outputs: Sequence[contract.EmbeddingOutput | str]) -> tuple[contract.EmbeddingOutput, ...]:
    """The forms an embed call asks for, in `contract.EmbeddingOutput` order, at least one."""
    if isinstance(outputs, str | bytes) or not isinstance(outputs, Sequence) or not outputs:
        raise InvalidInputError('outputs must be a non-empty sequence such as ("dense", "sparse", "colbert")')
    try:
        asked = {contract.EmbeddingOutput(o) for o in outputs}
    except ValueError:
        choices = ", ".join(k.value for k in contract.EmbeddingOutput)
        raise InvalidInputError(f"outputs must be among {choices}, got {list(outputs)!r}") from None
    return tuple(k for k in contract.EmbeddingOutput if k in asked)


class TaskCall(Generic[R]):
    """One call of a task method: its rows, the outputs it asks for, how to assemble them.

    `parameters` travel with every request of the call (Triton request parameters, which the
    ensemble forwards to its tokenizer step); `target` names the model the requests go to.
    """

    task: contract.Task
    outputs: tuple[str, ...]
    rows: int
    parameters: dict[str, int | str] = {}

    def target(self, model: str) -> str:
        """The model the requests go to: the ensemble itself unless the call skips a step."""
        return model

    def check(self, info: ModelInfo) -> None:
        """Argument checks that need the model's config; run before any inference."""

    def inputs(self, chunk: slice) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def assemble(self, info: ModelInfo, outputs: Outputs) -> R:
        """The typed result from every chunk's outputs, in input order."""
        raise NotImplementedError


class EmbedCall(TaskCall[Embeddings]):
    task = contract.Task.EMBED
    outputs: tuple[str, ...] = (contract.EMBEDDING,)

    def __init__(
        self,
        texts: str | Sequence[str],
        *,
        dimensions: int | None,
        max_length: int | None = None,
        long_inputs: contract.LongInputs | str | None = None,
        outputs: Sequence[contract.EmbeddingOutput | str] = (contract.EmbeddingOutput.DENSE,),
    ) -> None:
        self.texts = encode_texts(texts)
        self.rows = len(self.texts)
        self.dimensions = dimensions
        self.parameters = limit_parameters(max_length=max_length, long_inputs=long_inputs)
        self.kinds = check_embedding_outputs(outputs)
        self.outputs = tuple(t for kind in self.kinds for t in contract.EMBEDDING_OUTPUT_TENSORS[kind])
        if dimensions is not None and contract.EmbeddingOutput.DENSE not in self.kinds:
            raise InvalidInputError('dimensions applies to dense vectors: ask for outputs=("dense", ...)')

    def check(self, info: ModelInfo) -> None:
        missing = [k.value for k in self.kinds if k.value not in info.embedding_outputs]
        if missing and info.outputs:
            raise InvalidInputError(
                f"model {info.name!r} answers {', '.join(info.embedding_outputs)}, not {', '.join(missing)}: "
                "sparse and colbert outputs come from a bge-m3-style export (sparse_linear.pt and "
                "colbert_linear.pt beside the weights)"
            )

    def inputs(self, chunk: slice) -> dict[str, np.ndarray]:
        return {contract.TEXT: self.texts[chunk]}

    def assemble(self, info: ModelInfo, outputs: Outputs) -> Embeddings:
        sparse = colbert = None
        if contract.EmbeddingOutput.SPARSE in self.kinds:
            sparse = tuple(
                SparseEmbedding(ids=ids[ids >= 0], weights=weights[ids >= 0])
                for o in outputs
                for ids, weights in zip(o[contract.SPARSE_IDS], o[contract.SPARSE_WEIGHTS], strict=True)
            )
        if contract.EmbeddingOutput.COLBERT in self.kinds:
            colbert = tuple(
                np.ascontiguousarray(vectors[: int(count)], dtype=np.float32)
                for o in outputs
                for vectors, count in zip(
                    o[contract.COLBERT_VECTORS], o[contract.COLBERT_COUNT].reshape(-1), strict=True
                )
            )
        if contract.EmbeddingOutput.DENSE not in self.kinds:
            return Embeddings(
                vectors=np.zeros((self.rows, 0), dtype=np.float32), model=info.name, sparse=sparse, colbert=colbert
            )
        dense = self.dense(info, outputs)
        return Embeddings(vectors=dense.vectors, model=info.name, sparse=sparse, colbert=colbert)

    def dense(self, info: ModelInfo, outputs: Outputs) -> Embeddings:
        """The dense vectors, cut to `dimensions` (and renormalised) when asked."""
        parts = [o[contract.EMBEDDING] for o in outputs]
        vectors = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if self.dimensions is not None:
            if not 1 <= self.dimensions <= vectors.shape[1]:
                raise InvalidInputError(f"dimensions must lie in 1..{vectors.shape[1]} for {info.name!r}")
            vectors = vectors[:, : self.dimensions]
            if info.normalized:  # Matryoshka truncation keeps unit vectors unit
                vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return Embeddings(vectors=np.ascontiguousarray(vectors, dtype=np.float32), model=info.name)


class EmbedTokensCall(EmbedCall):
    """Embeddings of token id sequences, sent straight to the ensemble's encoder step.

    The ids are what the model sees, special tokens included (nothing is added), as
    text-embeddings-inference takes them; sequences over the model's `max_length` are cut to
    it. Ids must come from the model's own vocabulary.
    """

    def __init__(self, ids: Sequence[Sequence[int]], *, dimensions: int | None, token_type_ids: bool) -> None:
        if isinstance(ids, str | bytes) or not isinstance(ids, Sequence) or len(ids) == 0:
            raise InvalidInputError("token ids must be a non-empty list of lists of integers")
        rows = []
        for index, row in enumerate(ids):
            if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) == 0:
                raise InvalidInputError(f"token sequence {index} must be a non-empty list of integers")
            if any(isinstance(t, bool) or not isinstance(t, int | np.integer) or t < 0 for t in row):
                raise InvalidInputError(f"token sequence {index} holds a value that is not a token id (>= 0)")
            rows.append([int(t) for t in row])
        self.ids = rows
        self.rows = len(rows)
        self.dimensions = dimensions
        self.with_types = token_type_ids
        self.max_length: int | None = None
        self.parameters = {}
        self.kinds = (contract.EmbeddingOutput.DENSE,)
        self.outputs = (contract.EMBEDDING,)

    def target(self, model: str) -> str:
        return contract.component_names(model)[1]

    def check(self, info: ModelInfo) -> None:
        self.max_length = info.max_length

    def inputs(self, chunk: slice) -> dict[str, np.ndarray]:
        rows = [row[: self.max_length] if self.max_length else row for row in self.ids[chunk]]
        width = max(len(row) for row in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = row
            mask[index, : len(row)] = 1
        arrays = {contract.INPUT_IDS: ids, contract.ATTENTION_MASK: mask}
        if self.with_types:
            arrays[contract.TOKEN_TYPE_IDS] = np.zeros_like(ids)
        return arrays

    def assemble(self, info: ModelInfo, outputs: Outputs) -> Embeddings:
        result = self.dense(info, outputs)
        lengths = sum(min(len(row), self.max_length or len(row)) for row in self.ids)
        return Embeddings(vectors=result.vectors, model=result.model, prompt_tokens=lengths)


class ClassifyCall(TaskCall[Classification]):
    task = contract.Task.CLASSIFY
    outputs = (contract.LOGITS, contract.PROBABILITIES)

    def __init__(
        self,
        texts: str | Sequence[str],
        *,
        top_k: int | None,
        max_length: int | None = None,
        long_inputs: contract.LongInputs | str | None = None,
    ) -> None:
        self.texts = encode_texts(texts)
        self.rows = len(self.texts)
        self.top_k = 1 if top_k is None else top_k
        self.parameters = limit_parameters(max_length=max_length, long_inputs=long_inputs)

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

    def __init__(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_k: int | None,
        return_documents: bool,
        max_length: int | None = None,
        max_document_tokens: int | None = None,
        long_inputs: contract.LongInputs | str | None = None,
    ) -> None:
        self.queries, self.texts = encode_pairs(query, documents)
        self.rows = len(self.texts)
        self.top_k = top_k
        self.documents = tuple(documents) if return_documents else None
        self.parameters = limit_parameters(
            max_length=max_length, max_text_tokens=max_document_tokens, long_inputs=long_inputs
        )

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
