"""`MockTransport` and `AsyncMockTransport`: canned model configs and a handler, no server.

Test code that uses the client without Triton. The handler answers each inference request (one
per chunk of a split input) the way the ensemble would; the transport does what Triton does
around it: it serves the configs, refuses unknown models, and enforces each model's
`max_batch_size`, equal row counts across inputs and the presence of every requested output. A
handler may raise the client's exceptions (`OverloadedError(...)`) to test failure paths.

Example:
    >>> import numpy as np
    >>> from encoder_triton.client import EncoderClient, MockTransport
    >>> def handler(model, inputs, outputs):
    ...     return {"EMBEDDING": np.ones((len(inputs["TEXT"]), 3), dtype=np.float32)}
    >>> config = MockTransport.ensemble_config("minilm", task="embed", max_batch_size=2)
    >>> with EncoderClient(transport=MockTransport(handler, [config])) as client:
    ...     client.embed(["a", "b", "c"], model="minilm").vectors.shape
    (3, 3)
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.client._exceptions import InvalidInputError, ModelNotFoundError, ServerError
from encoder_triton.contract.params import EnsembleParams

#: Answers one inference request: (model, inputs, requested outputs) -> output arrays.
Handler = Callable[[str, dict[str, np.ndarray], list[str]], Mapping[str, np.ndarray]]
AsyncHandler = Callable[
    [str, dict[str, np.ndarray], list[str]], Mapping[str, np.ndarray] | Awaitable[Mapping[str, np.ndarray]]
]


def ensemble_config(
    name: str,
    *,
    task: contract.Task | str,
    max_batch_size: int = 8,
    dimension: int | None = None,
    normalized: bool | None = None,
    labels: Sequence[str] | None = None,
    activation: contract.Activation | str | None = None,
    token_count: bool = False,
    parameters: Mapping[str, str] | None = None,
    truncated: bool = False,
    extra_outputs: Sequence[str] = (),
) -> dict[str, Any]:
    """An ensemble's config as Triton's config API returns it, with the parameters the exporter writes.

    `token_count` and `truncated` declare the TOKEN_COUNT and TRUNCATED outputs (usage),
    `extra_outputs` any other (a bge-m3-style model's SPARSE_IDS, ...); `parameters` adds any
    other `contract.Param` key, as the string the config holds.
    """
    task = contract.Task(task)
    written = EnsembleParams(
        task=task,
        dimension=dimension,
        normalized=normalized,
        labels=None if labels is None else tuple(labels),
        activation=None if activation is None else contract.Activation(activation),
    )
    values = {**written.to_parameters(), **(parameters or {})}
    outputs = [
        *contract.TASK_OUTPUTS[task],
        *extra_outputs,
        *([contract.TOKEN_COUNT] if token_count else []),
        *([contract.TRUNCATED] if truncated else []),
    ]
    return {
        "name": name,
        "platform": "ensemble",
        "max_batch_size": max_batch_size,
        "input": [{"name": n, "data_type": "TYPE_STRING", "dims": ["1"]} for n in contract.TASK_INPUTS[task]],
        "output": [{"name": n} for n in outputs],
        "parameters": {key: {"string_value": value} for key, value in values.items()},
    }


class _CannedServer:
    """What Triton checks around a model's execution, over canned configs."""

    ensemble_config = staticmethod(ensemble_config)

    def __init__(self, configs: Iterable[Mapping[str, Any]]) -> None:
        self.configs = {str(config["name"]): dict(config) for config in configs}
        self.ready = True  # set False to test health checks
        self.closed = False
        self.answered: dict[str, int] = {}  # requests answered per model (the statistics API's counts)
        self.parameters: list[dict[str, Any]] = []  # each request's parameters, in arrival order

    def _config(self, model: str) -> dict[str, Any]:
        if model not in self.configs:
            raise ModelNotFoundError(f"model {model!r} is not loaded on the mock server: {sorted(self.configs)}")
        return self.configs[model]

    def _check_request(self, model: str, inputs: dict[str, np.ndarray]) -> None:
        limit = int(self._config(model).get("max_batch_size", 0))
        sizes = {name: len(array) for name, array in inputs.items()}
        if len(set(sizes.values())) > 1:
            raise InvalidInputError(f"inputs of {model!r} differ in batch size: {sizes}")
        rows = next(iter(sizes.values()), 0)
        if limit and rows > limit:  # Triton's wording
            raise InvalidInputError(f"inference request batch-size must be <= {limit} for '{model}'")

    def _record(self, model: str, parameters: Mapping[str, Any] | None) -> None:
        self.answered[model] = self.answered.get(model, 0) + 1
        self.parameters.append(dict(parameters or {}))

    def _statistics(self) -> dict[str, Any]:
        return {
            "model_stats": [
                {
                    "name": name,
                    "inference_count": count,
                    "execution_count": count,
                    "inference_stats": {"success": {"count": count, "ns": 0}},
                }
                for name, count in sorted(self.answered.items())
            ]
        }

    @staticmethod
    def _answer(model: str, result: Mapping[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        missing = [name for name in outputs if name not in result]
        if missing:
            raise ServerError(f"the mock handler returned no {missing} for {model!r}")
        return {name: np.asarray(result[name]) for name in outputs}


class MockTransport(_CannedServer):
    """A sync transport that serves `configs` and answers inference with `handler`."""

    def __init__(self, handler: Handler, configs: Iterable[Mapping[str, Any]]) -> None:
        super().__init__(configs)
        self.handler = handler

    def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        self._check_request(model, inputs)
        answer = self._answer(model, self.handler(model, inputs, outputs), outputs)
        self._record(model, parameters)
        return answer

    def statistics(self) -> dict[str, Any]:
        return self._statistics()

    def model_config(self, model: str) -> dict[str, Any]:
        return dict(self._config(model))

    def model_names(self) -> list[str]:
        return sorted(self.configs)

    def is_ready(self) -> bool:
        return self.ready

    def close(self) -> None:
        self.closed = True


class AsyncMockTransport(_CannedServer):
    """The asyncio twin of `MockTransport`; `handler` may be a plain or an async function."""

    def __init__(self, handler: AsyncHandler, configs: Iterable[Mapping[str, Any]]) -> None:
        super().__init__(configs)
        self.handler = handler

    async def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        self._check_request(model, inputs)
        await asyncio.sleep(0)  # let other requests interleave, as they would on the network
        result = self.handler(model, inputs, outputs)
        if inspect.isawaitable(result):
            result = await result
        answer = self._answer(model, result, outputs)
        self._record(model, parameters)
        return answer

    async def statistics(self) -> dict[str, Any]:
        return self._statistics()

    async def model_config(self, model: str) -> dict[str, Any]:
        return dict(self._config(model))

    async def model_names(self) -> list[str]:
        return sorted(self.configs)

    async def is_ready(self) -> bool:
        return self.ready

    async def close(self) -> None:
        self.closed = True
