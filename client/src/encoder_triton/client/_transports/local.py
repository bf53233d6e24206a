"""The in-process fallback: an exported repository run with ONNX Runtime, no Triton.

For Macs and laptops without Triton. It runs the very steps Triton's python models run
(`encoder_triton.runtime.steps`: validation, tokenisation, token-budget batching, the same ONNX
graph), so results match the server's. It needs the runtime (`pip install encoder-triton`),
which is imported only when a local client is made.

Example:
    >>> client = EncoderClient.local("model_repository")  # doctest: +SKIP
    >>> client.embed(["hello"], model="minilm").vectors.shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.client._exceptions import InvalidInputError, ModelNotFoundError


class LocalTransport:
    """Implements the transport interface by running the ensemble's steps in this process.

    It runs one request at a time, as one Triton model instance does: the tokenizer's pair
    truncation is set per call, and ONNX Runtime already uses every core for one request.
    """

    def __init__(self, repo: str | Path) -> None:
        try:
            from encoder_triton.runtime import steps
        except ImportError as exc:
            raise ImportError("the local fallback runs the encoder-triton runtime: pip install encoder-triton") from exc
        self._steps = steps
        self.repo = Path(repo)
        if not self.repo.is_dir():
            raise FileNotFoundError(f"model repository {self.repo} does not exist: run `encoder-triton export` first")
        self._pipelines: dict[str, tuple[int, Any, Any]] = {}  # model -> (max batch, tokenizer, encoder)
        self._lock = threading.Lock()
        self._running = threading.Lock()

    def _ensemble(self, model: str) -> Any:
        folder = self.repo / model
        if not (folder / "config.pbtxt").is_file():
            raise ModelNotFoundError(f"model {model!r} is not in the repository {self.repo}")
        return self._steps.ModelArgs.from_directory(folder)

    def _pipeline(self, model: str) -> tuple[int, Any, Any]:
        """The ensemble's batch limit and its two steps, loaded once per model."""
        with self._lock:
            if model not in self._pipelines:
                limit = int(self._ensemble(model).max_batch_size)  # also a clear error for unknown names
                tokenizer_name, encoder_name = contract.component_names(model)
                tokenizer = self._steps.TokenizerStep(self._steps.ModelArgs.from_directory(self.repo / tokenizer_name))
                encoder = self._steps.EncoderStep(self._steps.ModelArgs.from_directory(self.repo / encoder_name))
                self._pipelines[model] = (limit, tokenizer, encoder)
            return self._pipelines[model]

    def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        from encoder_triton.runtime.texts import InvalidTextError

        limit, tokenizer, encoder = self._pipeline(model)
        rows = len(next(iter(inputs.values())))
        if limit and rows > limit:
            raise InvalidInputError(f"inference request batch-size must be <= {limit} for '{model}'")
        with self._running:
            try:
                tokens = tokenizer.outputs_of(tokenizer.encode(inputs.get))
            except InvalidTextError as exc:
                raise InvalidInputError(f"in ensemble '{model}', {exc}") from exc  # Triton's wording
            result = {**tokens, **encoder.run([self._steps.EncoderStep.tokens(tokens.get)])[0]}
        return {name: result[name] for name in outputs}

    def model_config(self, model: str) -> dict[str, Any]:
        return self._ensemble(model).config.to_dict()

    def model_names(self) -> list[str]:
        return sorted(p.parent.name for p in self.repo.glob("*/config.pbtxt"))

    def is_ready(self) -> bool:
        return True

    def close(self) -> None:
        self._pipelines.clear()


class AsyncLocalTransport:
    """The async face of `LocalTransport`: the work runs in a worker thread."""

    def __init__(self, repo: str | Path) -> None:
        self._sync = LocalTransport(repo)

    async def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        return await asyncio.to_thread(self._sync.infer, model, inputs, outputs)

    async def model_config(self, model: str) -> dict[str, Any]:
        return self._sync.model_config(model)

    async def model_names(self) -> list[str]:
        return self._sync.model_names()

    async def is_ready(self) -> bool:
        return True

    async def close(self) -> None:
        self._sync.close()
