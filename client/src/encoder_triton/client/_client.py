"""`EncoderClient` and `AsyncEncoderClient`: typed task methods over a transport.

Each task method is written once (`_tasks.py`) and planned once (`_base.py`); the two clients
only do I/O. Both send the chunks of a split input `max_concurrency` at a time (the sync client
on its own thread pool, the async one as tasks under a semaphore), retry each chunk on its own
with the `RetryPolicy`, and return results in input order. Each task method first checks, from
the served ensemble's config, that the model serves its task: `embed` -> `Embeddings`,
`classify` -> `Classification` (labels from the config), `rerank` -> `RerankResult`.

Example:
    >>> from encoder_triton.client import EncoderClient
    >>> with EncoderClient("127.0.0.1:8001") as client:  # doctest: +SKIP
    ...     result = client.embed(["hello", "world"], model="minilm")
    ...     topics = client.classify(["Shares fell 5%."], model="bbc_news").labels
    ...     best = client.rerank("what is triton?", ["Cats.", "Triton serves models."], model="reranker").indices[0]
    >>> result.vectors.shape, topics, best  # doctest: +SKIP
    ((2, 384), ['business'], 1)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from encoder_triton.client._base import Plan, _BaseClient
from encoder_triton.client._exceptions import EncoderError
from encoder_triton.client._retry import RetryPolicy
from encoder_triton.client._tasks import ClassifyCall, EmbedCall, R, RerankCall, TaskCall
from encoder_triton.client._transports.base import AsyncTransport, Transport
from encoder_triton.client._transports.triton import AsyncTritonTransport, ProtocolName, TritonTransport
from encoder_triton.client._types import Classification, Embeddings, ModelInfo, RerankResult
from encoder_triton.contract import EmbeddingOutput, LongInputs

T = TypeVar("T")


class EncoderClient(_BaseClient):
    """A client for the ensembles `encoder-triton export` writes, over Triton gRPC or HTTP.

    `url` is `host:port` (gRPC 8001 or HTTP 8000 by Triton's convention). Inputs larger than a
    model's `max_batch_size` are split and sent `max_concurrency` at a time from the client's
    own threads, in order. `retries` retries retryable errors (overload, connection, timeout)
    with backoff. A client may be shared between threads, over gRPC and HTTP alike.
    """

    def __init__(
        self,
        url: str = "127.0.0.1:8001",
        *,
        protocol: ProtocolName = "grpc",
        timeout: float = 60.0,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
        max_concurrency: int = 4,
        retries: int | RetryPolicy = 0,
        transport: Transport | None = None,
    ) -> None:
        super().__init__(max_concurrency=max_concurrency, retries=retries)
        self._transport: Transport = transport or TritonTransport(
            url, protocol=protocol, timeout=timeout, ssl=ssl, headers=headers
        )
        self._lock = threading.Lock()
        self._threads: ThreadPoolExecutor | None = None

    @classmethod
    def local(
        cls, repo: str | Path, *, max_concurrency: int = 1, models: Collection[str] | None = None
    ) -> EncoderClient:
        """A client that runs the exported repository in this process (no Triton), same API;
        `models` serves only those ensembles of the repository.

        Needs the runtime: `pip install encoder-triton`.
        """
        from encoder_triton.client._transports.local import LocalTransport

        return cls(transport=LocalTransport(repo, models=models), max_concurrency=max_concurrency)

    def __enter__(self) -> EncoderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=True, cancel_futures=True)
        self._transport.close()

    def health(self) -> bool:
        """True when the server is ready to serve."""
        return self._transport.is_ready()

    def model_info(self, model: str) -> ModelInfo:
        """The model's task and limits, read once from its config on the server."""
        with self._lock:
            cached = self._infos.get(model)
        if cached is None:
            cached = ModelInfo.from_config(self._retrying(lambda: self._transport.model_config(model)))
            with self._lock:
                self._infos[model] = cached
        return cached

    def model_config(self, model: str) -> dict[str, Any]:
        """The model's config as the server returns it (Triton's config API, JSON form)."""
        return self._retrying(lambda: self._transport.model_config(model))

    def models(self) -> list[ModelInfo]:
        """The public models (ensembles written by the exporter) loaded on the server."""
        return self.public([self.model_info(name) for name in self._retrying(self._transport.model_names)])

    def embed(
        self,
        texts: str | Sequence[str],
        *,
        model: str,
        dimensions: int | None = None,
        max_length: int | None = None,
        long_inputs: LongInputs | str | None = None,
        outputs: Sequence[EmbeddingOutput | str] = (EmbeddingOutput.DENSE,),
    ) -> Embeddings:
        """Embeddings of `texts`, in order; `dimensions` truncates (Matryoshka) and renormalises,
        `max_length` truncates each text at that many tokens (at most the model's limit).

        `long_inputs` is this call's policy for texts over the limit (truncate, truncate_left,
        error, chunk; default: the model's). `outputs` asks a bge-m3-style model for "sparse"
        and "colbert" besides (or instead of) "dense", all from one forward pass.
        """
        call = EmbedCall(texts, dimensions=dimensions, max_length=max_length, long_inputs=long_inputs, outputs=outputs)
        return self._send(model, call)

    def embed_tokens(self, ids: Sequence[Sequence[int]], *, model: str, dimensions: int | None = None) -> Embeddings:
        """Embeddings of token id sequences from the model's own tokenizer, special tokens
        included, sent straight to the encoder step (cut at the model's `max_length`)."""
        encoder = self.model_info(self.encoder_name(model))
        return self._send(model, self.tokens_call(ids, dimensions, encoder))

    def classify(
        self,
        texts: str | Sequence[str],
        *,
        model: str,
        top_k: int | None = None,
        max_length: int | None = None,
        long_inputs: LongInputs | str | None = None,
    ) -> Classification:
        """Labels and probabilities of `texts`, in order, with the `top_k` best labels of each (1);
        `max_length` truncates each text at that many tokens (at most the model's limit),
        `long_inputs` is this call's policy for texts over the limit (see `embed`)."""
        return self._send(model, ClassifyCall(texts, top_k=top_k, max_length=max_length, long_inputs=long_inputs))

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        model: str,
        top_k: int | None = None,
        return_documents: bool = False,
        max_length: int | None = None,
        max_document_tokens: int | None = None,
        long_inputs: LongInputs | str | None = None,
    ) -> RerankResult:
        """`documents` ranked by relevance to `query`, best first; the `top_k` best (default all).

        `max_length` caps each (query, document) pair in tokens, `max_document_tokens` cuts
        each document after that many tokens first (Cohere's `max_tokens_per_doc`);
        `long_inputs` is this call's policy for pairs over the limit (chunk: each document
        scores as its best window, the query whole in every window).
        """
        call = RerankCall(
            query,
            documents,
            top_k=top_k,
            return_documents=return_documents,
            max_length=max_length,
            max_document_tokens=max_document_tokens,
            long_inputs=long_inputs,
        )
        return self._send(model, call)

    def statistics(self) -> dict[str, Any]:
        """Per-model counters in the shape of Triton's statistics API (`model_stats`)."""
        return self._retrying(self._transport.statistics)

    # -- I/O ---------------------------------------------------------------------------------
    def _send(self, model: str, call: TaskCall[R]) -> R:
        plan = self.plan(model, call, self.model_info(model))
        return plan.assemble(self._infer_all(plan))

    def _infer_all(self, plan: Plan[R]) -> list[dict[str, np.ndarray]]:
        """Every request of `plan`, at most `max_concurrency` in flight; answers in order."""

        def one(index: int) -> dict[str, np.ndarray]:
            try:
                return self._retrying(
                    lambda: self._transport.infer(plan.model, plan.requests[index], plan.outputs, plan.parameters)
                )
            except EncoderError as exc:
                raise plan.locate(exc, index) from exc.__cause__

        if len(plan.requests) == 1 or self.max_concurrency == 1:
            return [one(index) for index in range(len(plan.requests))]  # in the caller's thread
        futures = [self._pool().submit(one, index) for index in range(len(plan.requests))]
        try:
            return [future.result() for future in futures]
        finally:  # after a failure, requests not yet sent are dropped
            for future in futures:
                future.cancel()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="encoder-triton")
            return self._threads

    def _retrying(self, call: Callable[[], T]) -> T:
        """`call`, retried with backoff while it fails with a retryable error."""
        delays = self.retry.delays()
        while True:
            try:
                return call()
            except EncoderError as exc:
                time.sleep(self.next_delay(exc, delays))


class AsyncEncoderClient(_BaseClient):
    """The asyncio twin of `EncoderClient` (tritonclient's aio clients underneath).

    Example:
        >>> async with AsyncEncoderClient("127.0.0.1:8001") as client:  # doctest: +SKIP
        ...     result = await client.embed(["hello"], model="minilm")
    """

    def __init__(
        self,
        url: str = "127.0.0.1:8001",
        *,
        protocol: ProtocolName = "grpc",
        timeout: float = 60.0,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
        max_concurrency: int = 4,
        retries: int | RetryPolicy = 0,
        transport: AsyncTransport | None = None,
    ) -> None:
        super().__init__(max_concurrency=max_concurrency, retries=retries)
        self._transport: AsyncTransport = transport or AsyncTritonTransport(
            url, protocol=protocol, timeout=timeout, ssl=ssl, headers=headers
        )

    @classmethod
    def local(
        cls,
        repo: str | Path,
        *,
        max_concurrency: int = 1,
        models: Collection[str] | None = None,
        batch_window_s: float | None = None,
    ) -> AsyncEncoderClient:
        """The in-process fallback (see `EncoderClient.local`), run in a worker thread.

        Concurrent requests for one model are micro-batched: each waits up to `batch_window_s`
        (2 ms by default; 0 turns batching off) for others to share its encoder call. `models`
        serves only those ensembles of the repository.
        """
        from encoder_triton.client._transports.local import DEFAULT_BATCH_WINDOW_S, AsyncLocalTransport

        window = DEFAULT_BATCH_WINDOW_S if batch_window_s is None else batch_window_s
        transport = AsyncLocalTransport(repo, models=models, batch_window_s=window)
        return cls(transport=transport, max_concurrency=max_concurrency)

    async def __aenter__(self) -> AsyncEncoderClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

    async def health(self) -> bool:
        return await self._transport.is_ready()

    async def model_info(self, model: str) -> ModelInfo:
        cached = self._infos.get(model)
        if cached is None:
            cached = ModelInfo.from_config(await self._retrying(lambda: self._transport.model_config(model)))
            self._infos[model] = cached
        return cached

    async def model_config(self, model: str) -> dict[str, Any]:
        return await self._retrying(lambda: self._transport.model_config(model))

    async def models(self) -> list[ModelInfo]:
        names = await self._retrying(self._transport.model_names)
        return self.public([await self.model_info(name) for name in names])

    async def embed(
        self,
        texts: str | Sequence[str],
        *,
        model: str,
        dimensions: int | None = None,
        max_length: int | None = None,
        long_inputs: LongInputs | str | None = None,
        outputs: Sequence[EmbeddingOutput | str] = (EmbeddingOutput.DENSE,),
    ) -> Embeddings:
        call = EmbedCall(texts, dimensions=dimensions, max_length=max_length, long_inputs=long_inputs, outputs=outputs)
        return await self._send(model, call)

    async def embed_tokens(
        self, ids: Sequence[Sequence[int]], *, model: str, dimensions: int | None = None
    ) -> Embeddings:
        encoder = await self.model_info(self.encoder_name(model))
        return await self._send(model, self.tokens_call(ids, dimensions, encoder))

    async def classify(
        self,
        texts: str | Sequence[str],
        *,
        model: str,
        top_k: int | None = None,
        max_length: int | None = None,
        long_inputs: LongInputs | str | None = None,
    ) -> Classification:
        call = ClassifyCall(texts, top_k=top_k, max_length=max_length, long_inputs=long_inputs)
        return await self._send(model, call)

    async def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        model: str,
        top_k: int | None = None,
        return_documents: bool = False,
        max_length: int | None = None,
        max_document_tokens: int | None = None,
        long_inputs: LongInputs | str | None = None,
    ) -> RerankResult:
        call = RerankCall(
            query,
            documents,
            top_k=top_k,
            return_documents=return_documents,
            max_length=max_length,
            max_document_tokens=max_document_tokens,
            long_inputs=long_inputs,
        )
        return await self._send(model, call)

    async def statistics(self) -> dict[str, Any]:
        return await self._retrying(self._transport.statistics)

    # -- I/O ---------------------------------------------------------------------------------
    async def _send(self, model: str, call: TaskCall[R]) -> R:
        plan = self.plan(model, call, await self.model_info(model))
        return plan.assemble(await self._infer_all(plan))

    async def _infer_all(self, plan: Plan[R]) -> list[dict[str, np.ndarray]]:
        """Every request of `plan` as a task, at most `max_concurrency` in flight; answers in order."""
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(index: int) -> dict[str, np.ndarray]:
            async with gate:
                try:
                    return await self._retrying(
                        lambda: self._transport.infer(plan.model, plan.requests[index], plan.outputs, plan.parameters)
                    )
                except EncoderError as exc:
                    raise plan.locate(exc, index) from exc.__cause__

        tasks = [asyncio.ensure_future(one(index)) for index in range(len(plan.requests))]
        try:
            return [await task for task in tasks]
        finally:  # after a failure (or a cancelled caller), stop the rest and collect them
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call`, retried with backoff while it fails with a retryable error."""
        delays = self.retry.delays()
        while True:
            try:
                return await call()
            except EncoderError as exc:
                await asyncio.sleep(self.next_delay(exc, delays))
