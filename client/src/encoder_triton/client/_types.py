"""Typed results the client returns: frozen dataclasses holding numpy arrays.

Example:
    >>> import numpy as np
    >>> e = Embeddings(vectors=np.zeros((2, 4), dtype=np.float32), model="minilm")
    >>> len(e), e.dimension
    (2, 4)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoder_triton import contract


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

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelInfo:
        """Build from a model config as Triton's config API returns it (HTTP or gRPC JSON)."""
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}

        def number(key: str) -> int | None:
            return int(params[key]) if params.get(key) else None

        labels = params.get(contract.Param.LABELS)
        return cls(
            name=str(config["name"]),
            task=params.get(contract.Param.TASK, "unknown"),
            max_batch_size=int(config.get("max_batch_size", 0)),
            dimension=number(contract.Param.DIMENSION),
            max_length=number(contract.Param.MAX_LENGTH),
            max_chars=number(contract.Param.MAX_CHARS),
            truncation=params.get(contract.Param.TRUNCATION, "true") == "true",
            normalized=params.get(contract.Param.NORMALIZED, "false") == "true",
            labels=tuple(json.loads(labels)) if labels else None,
        )


@dataclass(frozen=True)
class Embeddings:
    """One vector per input text, in input order (float32 [n, dimension])."""

    vectors: np.ndarray
    model: str

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])
