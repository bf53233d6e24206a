"""`EncoderClient` and `AsyncEncoderClient`: typed task methods over a transport.

`_BaseClient` holds everything that is not I/O: validating texts, splitting a big input by
the model's own `max_batch_size`, and assembling and truncating results. Each client writes
out its own I/O path: threads for the sync client, tasks for the async one, both with a
concurrency bound and opt-in retries. Each task method first checks, from the served
ensemble's config, that the model serves its task: `embed` -> `Embeddings`, `classify` ->
`Classification` (labels from the config), `rerank` -> `RerankResult`.

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
import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from encoder_triton import contract
from encoder_triton.client._exceptions import EncoderError, InvalidInputError
from encoder_triton.client._retry import RetryPolicy
from encoder_triton.client._transport import (
    AsyncTransport,
    AsyncTritonTransport,
    ProtocolName,
    Transport,
    TritonTransport,
)
from encoder_triton.client._types import Classification, Embeddings, ModelInfo, RerankResult

T = TypeVar("T")


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


class _BaseClient:
    """Request planning and result assembly shared by the sync and async clients."""

    def __init__(self, *, max_concurrency: int, retries: int | RetryPolicy) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency
        self.retry = retries if isinstance(retries, RetryPolicy) else RetryPolicy(retries=retries)
        self._infos: dict[str, ModelInfo] = {}

    @staticmethod
    def _chunks(rows: int, info: ModelInfo) -> list[slice]:
        """Slices of at most the model's max_batch_size rows (the whole input if it fits)."""
        size = info.max_batch_size or 1
        return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]

    @staticmethod
    def _check_task(info: ModelInfo, task: str) -> None:
        if info.task != task:
            hint = f": call {info.task}() for it" if info.task in {t.value for t in contract.Task} else ""
            raise InvalidInputError(f"model {info.name!r} serves task {info.task!r}, not {task!r}{hint}")

    @staticmethod
    def _embeddings(info: ModelInfo, parts: list[np.ndarray], dimensions: int | None) -> Embeddings:
        vectors = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if dimensions is not None:
            if not 1 <= dimensions <= vectors.shape[1]:
                raise InvalidInputError(f"dimensions must lie in 1..{vectors.shape[1]} for {info.name!r}")
            vectors = vectors[:, :dimensions]
            if info.normalized:  # Matryoshka truncation keeps unit vectors unit
                vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return Embeddings(vectors=np.ascontiguousarray(vectors, dtype=np.float32), model=info.name)

    @staticmethod
    def _classification(info: ModelInfo, outputs: list[dict[str, np.ndarray]], top_k: int) -> Classification:
        logits = np.concatenate([o[contract.LOGITS] for o in outputs])
        probabilities = np.concatenate([o[contract.PROBABILITIES] for o in outputs])
        names = info.labels or tuple(f"LABEL_{i}" for i in range(probabilities.shape[1]))
        k = check_top_k(top_k, len(names))
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

    @staticmethod
    def _ranking(
        info: ModelInfo, outputs: list[dict[str, np.ndarray]], documents: Sequence[str] | None, top_k: int | None
    ) -> RerankResult:
        scores = np.concatenate([o[contract.SCORE] for o in outputs]).reshape(-1).astype(np.float32)
        raw = np.concatenate([o[contract.RAW_SCORE] for o in outputs]).reshape(-1).astype(np.float32)
        # Rank on the raw scores: in float32 the sigmoid saturates to 1.0 for strong matches.
        order = np.argsort(-raw, kind="stable")[: check_top_k(top_k, len(raw))]
        return RerankResult(
            indices=order.astype(np.int64),
            scores=scores[order],
            raw_scores=raw[order],
            model=info.name,
            documents=None if documents is None else tuple(documents[i] for i in order),
        )

    @staticmethod
    def _locate(error: EncoderError, chunk: slice, chunks: int) -> EncoderError:
        """Prefix which slice of the caller's input a split request's error is about."""
        if chunks == 1:
            return error
        located = type(error)(f"texts[{chunk.start}:{chunk.stop}]: {error}")
        located.__cause__ = error.__cause__
        return located


class EncoderClient(_BaseClient):
    """A client for the ensembles `encoder-triton export` writes, over Triton gRPC or HTTP.

    `url` is `host:port` (gRPC 8001 or HTTP 8000 by Triton's convention). Inputs larger than a
    model's `max_batch_size` are split and sent `max_concurrency` at a time, in order.
    `retries` retries retryable errors (overload, connection, timeout) with backoff.
    A gRPC client may be shared between threads; tritonclient's HTTP client runs on gevent, so
    give each thread its own HTTP client.
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

    def __enter__(self) -> EncoderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def health(self) -> bool:
        """True when the server is ready to serve."""
        return self._transport.is_ready()

    def model_info(self, model: str) -> ModelInfo:
        """The model's task and limits, read once from its config on the server."""
        with self._lock:
            cached = self._infos.get(model)
        if cached is None:
            cached = ModelInfo.from_config(self._call(lambda: self._transport.model_config(model)))
            with self._lock:
                self._infos[model] = cached
        return cached

    def models(self) -> list[ModelInfo]:
        """The public models (ensembles written by the exporter) loaded on the server."""
        infos = [self.model_info(name) for name in self._call(self._transport.model_names)]
        return [info for info in infos if info.task != "unknown"]

    def embed(self, texts: str | Sequence[str], *, model: str, dimensions: int | None = None) -> Embeddings:
        """Embeddings of `texts`, in order; `dimensions` truncates (Matryoshka) and renormalises."""
        rows = encode_texts(texts)
        info = self.model_info(model)
        self._check_task(info, contract.Task.EMBED.value)
        chunks = self._chunks(len(rows), info)
        outputs = self._infer_chunks(model, [{contract.TEXT: rows[c]} for c in chunks], [contract.EMBEDDING], chunks)
        return self._embeddings(info, [o[contract.EMBEDDING] for o in outputs], dimensions)

    def classify(self, texts: str | Sequence[str], *, model: str, top_k: int | None = None) -> Classification:
        """Labels and probabilities of `texts`, in order, with the `top_k` best labels of each (1)."""
        rows = encode_texts(texts)
        info = self.model_info(model)
        self._check_task(info, contract.Task.CLASSIFY.value)
        k = check_top_k(1 if top_k is None else top_k, len(info.labels or ()) or 1)  # before any round trip
        chunks = self._chunks(len(rows), info)
        requests = [{contract.TEXT: rows[c]} for c in chunks]
        outputs = self._infer_chunks(model, requests, [contract.LOGITS, contract.PROBABILITIES], chunks)
        return self._classification(info, outputs, k)

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
        queries, texts = encode_pairs(query, documents)
        info = self.model_info(model)
        self._check_task(info, contract.Task.RERANK.value)
        check_top_k(top_k, len(texts))
        chunks = self._chunks(len(texts), info)
        requests = [{contract.QUERY: queries[c], contract.TEXT: texts[c]} for c in chunks]
        outputs = self._infer_chunks(model, requests, [contract.SCORE, contract.RAW_SCORE], chunks)
        return self._ranking(info, outputs, list(documents) if return_documents else None, top_k)

    # -- I/O helpers -------------------------------------------------------------------------
    def _call(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except EncoderError as exc:
            return self._retry_after(exc, call)

    def _infer_chunks(
        self, model: str, requests: list[dict[str, np.ndarray]], outputs: list[str], chunks: list[slice]
    ) -> list[dict[str, np.ndarray]]:
        """All chunks through the transport's bounded concurrency, retrying retryable failures."""
        results = self._transport.infer_many(model, requests, outputs, self.max_concurrency)
        done: list[dict[str, np.ndarray]] = []
        for index, result in enumerate(results):
            if isinstance(result, EncoderError):
                try:
                    retry = functools.partial(self._transport.infer, model, requests[index], outputs)
                    result = self._retry_after(result, retry)
                except EncoderError as exc:
                    raise self._locate(exc, chunks[index], len(chunks)) from exc.__cause__
            done.append(result)
        return done

    def _retry_after(self, error: EncoderError, call: Callable[[], T]) -> T:
        """Retry `call` after a first failure `error`, with backoff, while it stays retryable."""
        delays = self.retry.delays()
        while True:
            delay = next(delays, None) if error.retryable else None
            if delay is None:
                raise error
            time.sleep(delay)
            try:
                return call()
            except EncoderError as exc:
                error = exc


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
            cached = ModelInfo.from_config(await self._call(lambda: self._transport.model_config(model)))
            self._infos[model] = cached
        return cached

    async def models(self) -> list[ModelInfo]:
        names = await self._call(self._transport.model_names)
        infos = [await self.model_info(name) for name in names]
        return [info for info in infos if info.task != "unknown"]

    async def embed(self, texts: str | Sequence[str], *, model: str, dimensions: int | None = None) -> Embeddings:
        rows = encode_texts(texts)
        info = await self.model_info(model)
        self._check_task(info, contract.Task.EMBED.value)
        chunks = self._chunks(len(rows), info)

        async def run(chunk: slice) -> np.ndarray:
            outputs = await self._transport.infer(model, {contract.TEXT: rows[chunk]}, [contract.EMBEDDING])
            return outputs[contract.EMBEDDING]

        return self._embeddings(info, await self._map(run, chunks), dimensions)

    async def classify(self, texts: str | Sequence[str], *, model: str, top_k: int | None = None) -> Classification:
        rows = encode_texts(texts)
        info = await self.model_info(model)
        self._check_task(info, contract.Task.CLASSIFY.value)
        k = check_top_k(1 if top_k is None else top_k, len(info.labels or ()) or 1)

        async def run(chunk: slice) -> dict[str, np.ndarray]:
            names = [contract.LOGITS, contract.PROBABILITIES]
            return await self._transport.infer(model, {contract.TEXT: rows[chunk]}, names)

        return self._classification(info, await self._map(run, self._chunks(len(rows), info)), k)

    async def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        model: str,
        top_k: int | None = None,
        return_documents: bool = False,
    ) -> RerankResult:
        queries, texts = encode_pairs(query, documents)
        info = await self.model_info(model)
        self._check_task(info, contract.Task.RERANK.value)
        check_top_k(top_k, len(texts))

        async def run(chunk: slice) -> dict[str, np.ndarray]:
            inputs = {contract.QUERY: queries[chunk], contract.TEXT: texts[chunk]}
            return await self._transport.infer(model, inputs, [contract.SCORE, contract.RAW_SCORE])

        outputs = await self._map(run, self._chunks(len(texts), info))
        return self._ranking(info, outputs, list(documents) if return_documents else None, top_k)

    async def _call(self, call: Callable[[], Any]) -> Any:
        delays = self.retry.delays()
        while True:
            try:
                return await call()
            except EncoderError as exc:
                delay = next(delays, None) if exc.retryable else None
                if delay is None:
                    raise
                await asyncio.sleep(delay)

    async def _map(self, run: Callable[[slice], Any], chunks: list[slice]) -> list[Any]:
        gate = asyncio.Semaphore(self.max_concurrency)

        async def attempt(chunk: slice) -> Any:
            async with gate:
                try:
                    return await self._call(lambda: run(chunk))
                except EncoderError as exc:
                    raise self._locate(exc, chunk, len(chunks)) from exc.__cause__

        return list(await asyncio.gather(*(attempt(c) for c in chunks)))
