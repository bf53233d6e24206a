"""Adapters from Triton's python backend to the runtime's steps (`steps`).

The `model.py` files in an exported repository only re-export these classes under Triton's
required name; they convert Triton's tensors and errors, and all logic lives in `steps`:

    from encoder_triton.runtime.triton_backend import TokenizerModel as TritonPythonModel

Each `execute` answers every request it is given: a request with bad input gets its own
INVALID_ARG error, and the other requests of the same dynamic batch are served normally.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from encoder_triton.errors import InvalidTextError
from encoder_triton.runtime.steps import EncoderStep, InputGetter, ModelArgs, TokenizerStep

try:  # Only importable inside Triton's python-backend stub.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - exercised only outside Triton
    pb_utils = None


def _error(message: str, code: str = "INVALID_ARG") -> Any:
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, getattr(pb_utils.TritonError, code)))


def _getter(request: Any) -> InputGetter:
    def get(name: str) -> np.ndarray | None:
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy()

    return get


def _parameters(request: Any) -> dict[str, object]:
    # Triton forwards the ensemble request's parameters to each step, as a JSON object.
    try:
        parameters = json.loads(request.parameters() or "{}")
    except ValueError:
        return {}
    return parameters if isinstance(parameters, dict) else {}


def _response(arrays: dict[str, np.ndarray]) -> Any:
    return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(n, a) for n, a in arrays.items()])


class TokenizerModel:
    """Triton adapter of `TokenizerStep`."""

    def initialize(self, args: dict[str, str]) -> None:
        self.step = TokenizerStep(ModelArgs.from_triton(args))

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = []
        for request in requests:
            try:
                batch = self.step.encode(_getter(request), _parameters(request))
            except InvalidTextError as exc:
                responses.append(_error(str(exc)))
                continue
            responses.append(_response(self.step.outputs_of(batch)))
        return responses


class EncoderModel:
    """Triton adapter of `EncoderStep`."""

    def initialize(self, args: dict[str, str]) -> None:
        self.step = EncoderStep(ModelArgs.from_triton(args))

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        batches, positions = [], []
        for index, request in enumerate(requests):
            try:
                batches.append(EncoderStep.tokens(_getter(request)))
                positions.append(index)
            except InvalidTextError as exc:  # this request's own bad input
                responses[index] = _error(str(exc))
        if not batches:
            return responses
        try:
            results = self.step.run(batches)
        except Exception as exc:  # noqa: BLE001 - one failing forward must still answer everyone
            message = f"encoder failed on a batch of {len(batches)} requests: {exc}"
            return [r if r is not None else _error(message, "INTERNAL") for r in responses]
        for index, arrays in zip(positions, results, strict=True):
            responses[index] = _response(arrays)
        return responses
