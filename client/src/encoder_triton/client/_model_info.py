"""What a served model is, read from its ensemble's config parameters (see `contract.Param`).

The exporter writes the task, output width, labels and activation into the ensemble's
config.pbtxt; the client reads them once per model through Triton's model-config API, so a
classifier's labels always match the graph that is actually loaded.

Example:
    >>> config = {"parameters": {"encoder_triton.task": {"string_value": "classify"},
    ...                          "encoder_triton.labels": {"string_value": '["neg", "pos"]'}}}
    >>> info = ModelInfo.from_config("sentiment", config)
    >>> info.task.value, info.labels
    ('classify', ('neg', 'pos'))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from encoder_triton import contract
from encoder_triton.client._exceptions import InvalidInputError
from encoder_triton.contract import Task


@dataclass(frozen=True)
class ModelInfo:
    """The public facts of one served ensemble."""

    name: str
    task: Task
    dimension: int | None = None
    labels: tuple[str, ...] = ()
    activation: str | None = None
    normalized: bool = False
    max_length: int | None = None

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> ModelInfo:
        """Parse the model config dict Triton returns (the same shape over HTTP and gRPC)."""
        params = {key: value.get("string_value", "") for key, value in (config.get("parameters") or {}).items()}
        raw_task = params.get(contract.Param.TASK, Task.EMBED.value)
        try:
            task = Task(raw_task)
        except ValueError:
            raise InvalidInputError(
                f"model {name!r} declares task {raw_task!r}, which this client does not know: upgrade "
                "encoder-triton-client"
            ) from None
        dimension = params.get(contract.Param.DIMENSION)
        max_length = params.get(contract.Param.MAX_LENGTH)
        return cls(
            name=name,
            task=task,
            dimension=int(dimension) if dimension else None,
            labels=tuple(json.loads(params.get(contract.Param.LABELS) or "[]")),
            activation=params.get(contract.Param.ACTIVATION) or None,
            normalized=params.get(contract.Param.NORMALIZED) == "true",
            max_length=int(max_length) if max_length else None,
        )

    @property
    def multi_label(self) -> bool:
        return self.activation == contract.Activation.SIGMOID.value

    def require(self, task: Task, method: str) -> None:
        """Raise InvalidInputError when this model does not serve `task` (e.g. classify on an embedder)."""
        if self.task is not task:
            use = {Task.EMBED: "embed", Task.CLASSIFY: "classify", Task.RERANK: "rerank"}[self.task]
            raise InvalidInputError(
                f"model {self.name!r} serves {self.task.value}, not {task.value}: call client.{use}() "
                f"on it, or pass a {task.value} model to client.{method}()"
            )
