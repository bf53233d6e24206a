"""The in-process fallback: an exported repository run with ONNX Runtime, no Triton.

For Macs and laptops without Triton. It runs the very steps Triton's python models run
(`encoder_triton.runtime.steps`: validation, tokenisation, token-budget batching, the same ONNX
graph), so results match the server's. It needs the runtime (`pip install encoder-triton`),
which is imported only when a local client is made.

The async transport batches like Triton: concurrent requests for one model wait a couple of
milliseconds in a `BatchQueue`, are tokenised one by one (a bad text fails its own request
only) and run through the encoder in one call. Both transports count requests and executions
in the shape of Triton's statistics API, so `/health` and dashboards read them alike.

Example:
    >>> client = EncoderClient.local("model_repository")  # doctest: +SKIP
    >>> client.embed(["hello"], model="minilm").vectors.shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.client._exceptions import EncoderError, InvalidInputError, ModelNotFoundError, ServerError
from encoder_triton.client._transports._batch_queue import BatchQueue

#: Seconds a request waits for others to share its encoder call (Triton's exported default delay).
DEFAULT_BATCH_WINDOW_S = 0.002


@dataclass(frozen=True)
class LocalRequest:
    """One inference request, as the batch queue holds it."""

    inputs: dict[str, np.ndarray]
    outputs: list[str]
    parameters: Mapping[str, Any]

    @property
    def rows(self) -> int:
        return len(next(iter(self.inputs.values())))


class _Counters:
    """Per-model counters in the shape of Triton's statistics API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, dict[str, int]] = {}

    def add(self, model: str, *, rows: int, executions: int, successes: int, failures: int, ns: int) -> None:
        with self._lock:
            counts = self._models.setdefault(
                model, {"inference_count": 0, "execution_count": 0, "success": 0, "fail": 0, "ns": 0}
            )
            counts["inference_count"] += rows
            counts["execution_count"] += executions
            counts["success"] += successes
            counts["fail"] += failures
            counts["ns"] += ns

    def statistics(self, names: Sequence[str]) -> dict[str, Any]:
        with self._lock:
            stats = []
            for name in names:
                c = self._models.get(name, {"inference_count": 0, "execution_count": 0, "success": 0, "fail": 0})
                stats.append(
                    {
                        "name": name,
                        "version": "1",
                        "inference_count": c["inference_count"],
                        "execution_count": c["execution_count"],
                        "inference_stats": {
                            "success": {"count": c["success"], "ns": c.get("ns", 0)},
                            "fail": {"count": c["fail"], "ns": 0},
                        },
                    }
                )
        return {"model_stats": stats}


class LocalTransport:
    """Implements the transport interface by running the ensemble's steps in this process.

    It runs one batch at a time, as one Triton model instance does: the tokenizer's truncation
    is set per call, and ONNX Runtime already uses every core for one batch. `models` limits
    what it serves to those ensembles (and their steps), like `serve --models`.
    """

    def __init__(self, repo: str | Path, *, models: Collection[str] | None = None) -> None:
        try:
            from encoder_triton.runtime import steps
        except ImportError as exc:
            raise ImportError("the local fallback runs the encoder-triton runtime: pip install encoder-triton") from exc
        self._steps = steps
        self.repo = Path(repo)
        if not self.repo.is_dir():
            raise FileNotFoundError(f"model repository {self.repo} does not exist: run `encoder-triton export` first")
        self.models = frozenset(models) if models else None
        if self.models:
            missing = sorted(m for m in self.models if not (self.repo / m / "config.pbtxt").is_file())
            if missing:
                raise ModelNotFoundError(f"models {missing} are not in the repository {self.repo}")
        self._pipelines: dict[str, tuple[int, Any, Any]] = {}  # model -> (max batch, tokenizer, encoder)
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._counters = _Counters()

    def _ensemble(self, model: str) -> Any:
        folder = self.repo / model
        if (self.models is not None and model not in self.models) or not (folder / "config.pbtxt").is_file():
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

    def tokenizer_step(self, model: str) -> Any:
        """The ensemble's tokenizer step (for the gateway's /tokenize and token-id checks)."""
        return self._pipeline(model)[1]

    @staticmethod
    def ensemble_of(model: str) -> str | None:
        """The ensemble behind an encoder step's name (`minilm_encoder` -> `minilm`), else None."""
        return model[: -len(contract.ENCODER_SUFFIX)] if model.endswith(contract.ENCODER_SUFFIX) else None

    def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        result = self.infer_batch(model, [LocalRequest(inputs, outputs, dict(parameters or {}))])[0]
        if isinstance(result, EncoderError):
            raise result
        return result

    def infer_batch(self, model: str, requests: list[LocalRequest]) -> list[dict[str, np.ndarray] | EncoderError]:
        """Every request of one batch, each answered on its own (an error fails only its request).

        `model` is an ensemble (texts in) or an ensemble's encoder step (token arrays in).
        """
        from encoder_triton.errors import InvalidTextError

        started = time.perf_counter_ns()
        owner = self._encoder_owner(model)
        direct = owner is not None
        limit, tokenizer, encoder = self._pipeline(owner or model)
        answers: list[dict[str, np.ndarray] | EncoderError | None] = [None] * len(requests)
        batches, positions, token_outputs = [], [], []
        with self._running:
            for index, request in enumerate(requests):
                if limit and request.rows > limit:
                    answers[index] = InvalidInputError(
                        f"inference request batch-size must be <= {limit} for '{model}'"  # Triton's wording
                    )
                    continue
                try:
                    if direct:
                        batch = self._steps.EncoderStep.tokens(request.inputs.get)
                        tokens: dict[str, np.ndarray] = {}
                    else:
                        batch = tokenizer.encode(request.inputs.get, request.parameters)
                        tokens = tokenizer.outputs_of(batch)
                except InvalidTextError as exc:
                    answers[index] = InvalidInputError(f"in ensemble '{model}', {exc}")  # Triton's wording
                    continue
                batches.append(batch)
                positions.append(index)
                token_outputs.append(tokens)
            if batches:
                try:
                    encoded = encoder.run(batches)
                except Exception as exc:  # noqa: BLE001 - as the Triton adapter: the batch fails, the server lives
                    failure = ServerError(f"encoder failed on a batch of {len(batches)} requests: {exc}")
                    encoded = [failure] * len(batches)
                for index, tokens, result in zip(positions, token_outputs, encoded, strict=True):
                    if isinstance(result, EncoderError):
                        answers[index] = result
                        continue
                    merged = {**tokens, **result}
                    answers[index] = {name: merged[name] for name in requests[index].outputs}
        self._count(model, requests, answers, batches, time.perf_counter_ns() - started, direct=direct)
        return [a if a is not None else ServerError("no answer") for a in answers]

    def _encoder_owner(self, model: str) -> str | None:
        """The ensemble whose encoder step `model` is, or None when `model` is not a step."""
        ensemble = self.ensemble_of(model)
        if ensemble is None or not (self.repo / ensemble / "config.pbtxt").is_file():
            return None
        if self.models is not None and ensemble not in self.models:
            raise ModelNotFoundError(f"model {model!r} is not in the repository {self.repo}")
        return ensemble

    def _count(
        self,
        model: str,
        requests: list[LocalRequest],
        answers: list[Any],
        batches: list[Any],
        ns: int,
        *,
        direct: bool,
    ) -> None:
        ok = sum(1 for a in answers if isinstance(a, dict))
        rows = sum(r.rows for r, a in zip(requests, answers, strict=True) if isinstance(a, dict))
        # An ensemble counts requests, not executions (it does not batch); its steps do.
        executions = 1 if direct else 0
        self._counters.add(model, rows=rows, executions=executions, successes=ok, failures=len(requests) - ok, ns=ns)
        if batches and not direct:
            tokenizer_name, encoder_name = contract.component_names(model)
            self._counters.add(tokenizer_name, rows=rows, executions=len(requests), successes=ok, failures=0, ns=0)
            self._counters.add(encoder_name, rows=rows, executions=1, successes=len(batches), failures=0, ns=0)

    def model_config(self, model: str) -> dict[str, Any]:
        if self._encoder_owner(model) is not None:
            return self._steps.ModelArgs.from_directory(self.repo / model).config.to_dict()
        return self._ensemble(model).config.to_dict()

    def model_names(self) -> list[str]:
        names = sorted(p.parent.name for p in self.repo.glob("*/config.pbtxt"))
        if self.models is None:
            return names
        wanted = {part for m in self.models for part in (m, *contract.component_names(m))}
        return [name for name in names if name in wanted]

    def statistics(self) -> dict[str, Any]:
        return self._counters.statistics(self.model_names())

    def is_ready(self) -> bool:
        return True

    def close(self) -> None:
        self._pipelines.clear()


class AsyncLocalTransport:
    """The async face of `LocalTransport`: requests for one model are micro-batched (see
    `BatchQueue`) and run in a worker thread. `batch_window_s=0` runs each request alone."""

    def __init__(
        self,
        repo: str | Path,
        *,
        models: Collection[str] | None = None,
        batch_window_s: float = DEFAULT_BATCH_WINDOW_S,
    ) -> None:
        self.local = LocalTransport(repo, models=models)
        self.batch_window_s = batch_window_s
        self._queues: dict[str, BatchQueue[LocalRequest]] = {}

    async def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        request = LocalRequest(inputs, outputs, dict(parameters or {}))
        if self.batch_window_s <= 0:
            return await asyncio.to_thread(self.local.infer, model, inputs, outputs, parameters)
        result = await self._queue(model).submit(request)
        if isinstance(result, EncoderError):
            raise result
        return dict(result)

    def _queue(self, model: str) -> BatchQueue[LocalRequest]:
        queue = self._queues.get(model)
        if queue is None:
            limit = self.local.model_config(model).get("max_batch_size", 0)
            queue = BatchQueue(
                lambda requests: self.local.infer_batch(model, requests),
                rows=lambda request: request.rows,
                window_s=self.batch_window_s,
                max_rows=int(limit or 0) or 64,
            )
            self._queues[model] = queue
        return queue

    async def model_config(self, model: str) -> dict[str, Any]:
        return self.local.model_config(model)

    async def model_names(self) -> list[str]:
        return self.local.model_names()

    async def statistics(self) -> dict[str, Any]:
        return self.local.statistics()

    async def is_ready(self) -> bool:
        return True

    async def close(self) -> None:
        self.local.close()
