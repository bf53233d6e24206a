"""Typed results the client returns: frozen dataclasses holding numpy arrays.

Example:
    >>> import numpy as np
    >>> e = Embeddings(vectors=np.zeros((2, 4), dtype=np.float32), model="minilm")
    >>> len(e), e.dimension, np.asarray(e).shape
    (2, 4, (2, 4))
    >>> c = Classification(label_names=("neg", "pos"), logits=np.zeros((1, 2)),
    ...                    probabilities=np.array([[0.2, 0.8]]), top_labels=(("pos",),),
    ...                    top_scores=np.array([[0.8]]), model="sentiment")
    >>> c.labels
    ['pos']
    >>> SparseEmbedding(ids=np.array([7, 42]), weights=np.array([0.5, 0.25])).as_dict()
    {7: 0.5, 42: 0.25}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from encoder_triton import contract
from encoder_triton.contract.model_config import ModelConfig
from encoder_triton.contract.params import EnsembleParams


@dataclass(frozen=True)
class ModelInfo:
    """A served model as the exporter described it (read from the server, never guessed)."""

    name: str
    task: str
    max_batch_size: int
    dimension: int | None = None
    max_length: int | None = None
    max_chars: int | None = None
    truncation: bool = True
    normalized: bool = False
    labels: tuple[str, ...] | None = None
    activation: str | None = None  # classify: "softmax" or "sigmoid" (see contract.Activation)
    reports_tokens: bool = False  # the ensemble returns TOKEN_COUNT (usage)
    #: What the model does with a text over max_length (a `contract.LongInputs` value); requests
    #: may ask for another.
    long_inputs: str = contract.LongInputs.TRUNCATE.value
    reports_truncation: bool = False  # the ensemble returns TRUNCATED (usage)
    # The model's input tensors, in config order: how to call it, not what it is (not compared).
    inputs: tuple[str, ...] = field(default=(), compare=False)
    outputs: tuple[str, ...] = field(default=(), compare=False)  # its output tensors

    @property
    def embedding_outputs(self) -> tuple[str, ...]:
        """What an embed call may ask of this model: "dense", and for a bge-m3-style model
        "sparse" and "colbert" too (`contract.EmbeddingOutput`)."""
        return tuple(
            kind.value
            for kind, tensors in contract.EMBEDDING_OUTPUT_TENSORS.items()
            if all(t in self.outputs for t in tensors)
        )

    @property
    def multi_label(self) -> bool:
        """True when a classifier scores each label on its own (sigmoid), not one of n (softmax)."""
        return self.activation == contract.Activation.SIGMOID.value

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelInfo:
        """Build from a model config as Triton's config API returns it (HTTP or gRPC JSON)."""
        model = ModelConfig.from_dict(config)
        params = EnsembleParams.from_parameters(model.parameters)
        return cls(
            name=model.name,
            task=params.task.value if params.task else "unknown",
            max_batch_size=model.max_batch_size,
            dimension=params.dimension,
            max_length=params.max_length,
            max_chars=params.max_chars,
            truncation=params.truncation,
            normalized=bool(params.normalized),
            labels=params.labels,
            activation=params.activation.value if params.activation else None,
            reports_tokens=any(o.name == contract.TOKEN_COUNT for o in model.outputs),
            long_inputs=params.long_input_policy.value,
            reports_truncation=any(o.name == contract.TRUNCATED for o in model.outputs),
            inputs=tuple(i.name for i in model.inputs),
            outputs=tuple(o.name for o in model.outputs),
        )


def _as_array(values: np.ndarray, dtype: npt.DTypeLike | None, copy: bool | None) -> np.ndarray:
    """`values` as numpy's `__array__` protocol asks (numpy 2 passes `copy`; 1.x never does)."""
    if copy is False and dtype is not None and np.dtype(dtype) != values.dtype:
        raise ValueError(f"converting {values.dtype} to {np.dtype(dtype)} needs a copy, and copy=False forbids it")
    array = values if dtype is None else values.astype(dtype, copy=False)
    return array.copy() if copy and array is values else array


@dataclass(frozen=True)
class SparseEmbedding:
    """A text's lexical weights (bge-m3's sparse output): each token id of the text once, with
    its weight, in id order."""

    ids: np.ndarray  # int64 [k]
    weights: np.ndarray  # float32 [k]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def as_dict(self) -> dict[int, float]:
        """{token id: weight}, the form BGE-M3's `lexical_weights` take."""
        return {int(i): float(w) for i, w in zip(self.ids, self.weights, strict=True)}


@dataclass(frozen=True)
class Embeddings:
    """One vector per input text, in input order (float32 [n, dimension]).

    A bge-m3-style model also answers, when asked (`outputs=("dense", "sparse", "colbert")`),
    `sparse` (one `SparseEmbedding` per text) and `colbert` (one float32 [tokens, dim] array
    per text, unit rows); `vectors` is [n, 0] when "dense" was not asked for.
    """

    vectors: np.ndarray
    model: str
    prompt_tokens: int | None = None  # tokens the model saw, when the server reports them
    truncated: int | None = None  # texts the model did not see in full, when the server reports it
    sparse: tuple[SparseEmbedding, ...] | None = None
    colbert: tuple[np.ndarray, ...] | None = None

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        """`np.asarray(embeddings)`: the vectors."""
        return _as_array(self.vectors, dtype, copy)


@dataclass(frozen=True)
class Classification:
    """Labels and scores for each text, in input order.

    `top_labels[i]` are the k best labels of text i, best first, with their probabilities in
    `top_scores[i]`; `probabilities` and `logits` hold every label, in `label_names` order.
    For a multi-label model the probabilities are independent sigmoids (they need not sum to 1).
    """

    label_names: tuple[str, ...]
    logits: np.ndarray  # float32 [texts, labels]
    probabilities: np.ndarray  # float32 [texts, labels]
    top_labels: tuple[tuple[str, ...], ...]
    top_scores: np.ndarray  # float32 [texts, k]
    model: str
    multi_label: bool = False
    prompt_tokens: int | None = None  # tokens the model saw, when the server reports them
    truncated: int | None = None  # texts the model did not see in full, when the server reports it

    @property
    def labels(self) -> list[str]:
        """The best label of each text."""
        return [row[0] for row in self.top_labels]

    def __len__(self) -> int:
        return int(self.probabilities.shape[0])

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        """`np.asarray(classification)`: the probabilities [texts, labels], in `label_names` order."""
        return _as_array(self.probabilities, dtype, copy)


@dataclass(frozen=True)
class RerankResult:
    """Documents ranked by relevance to the query, best first.

    `indices[j]` is the position, in the documents passed, of the j-th best; `scores` are
    sigmoid scores in [0, 1] and `raw_scores` the cross-encoder's logits, in the same order.
    `documents` holds the texts in that order when asked for (`return_documents=True`).
    """

    indices: np.ndarray  # int64 [k]
    scores: np.ndarray  # float32 [k]
    raw_scores: np.ndarray  # float32 [k]
    model: str
    documents: tuple[str, ...] | None = None
    prompt_tokens: int | None = None  # tokens the model saw (query + document pairs)
    truncated: int | None = None  # documents the model did not see in full, when reported

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        """`np.asarray(ranking)`: the scores, best first (the order of `indices`)."""
        return _as_array(self.scores, dtype, copy)
