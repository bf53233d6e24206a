"""The gateway application: FastAPI routes over the async encoder-triton client (gRPC to Triton).

Example:
    >>> app = create_app(GatewaySettings(triton_url="127.0.0.1:8001"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from encoder_triton.client import AsyncEncoderClient, EncoderError, InvalidInputError
from encoder_triton.errors import PayloadTooLarge, UnauthorizedError
from encoder_triton.gateway import schemas
from encoder_triton.gateway.errors import error_body, headers_for, status_for
from encoder_triton.gateway.settings import GatewaySettings

_OPENAI_PREFIX = "/v1/embeddings", "/v1/models"


def create_app(settings: GatewaySettings, client: AsyncEncoderClient | None = None) -> FastAPI:
    """The FastAPI app; pass `client` to share one (tests), else one is made at startup."""
    registry = CollectorRegistry()
    requests_total = Counter(
        "gateway_requests", "Gateway requests by route and status", ["route", "status"], registry=registry
    )
    latency = Histogram("gateway_request_seconds", "Gateway request latency", ["route"], registry=registry)
    texts_total = Counter("gateway_texts", "Texts received by route", ["route"], registry=registry)
    state: dict[str, AsyncEncoderClient] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["client"] = client or AsyncEncoderClient(
            settings.triton_url,
            protocol=settings.protocol,  # type: ignore[arg-type]
            timeout=settings.timeout_s,
            max_concurrency=settings.max_concurrency,
        )
        try:
            yield
        finally:
            if client is None:
                await state["client"].close()

    app = FastAPI(
        title="encoder-triton gateway",
        version="0.1.0",
        description="OpenAI-, Cohere- and Jina-compatible APIs for encoder models served by NVIDIA Triton.",
        lifespan=lifespan,
    )

    def openai_style(request: Request) -> bool:
        return request.url.path.startswith(_OPENAI_PREFIX)

    def failure(request: Request, status: int, message: str) -> JSONResponse:
        return JSONResponse(
            error_body(status, message, openai_style=openai_style(request)),
            status_code=status,
            headers=headers_for(status),
        )

    @app.exception_handler(EncoderError)
    async def _encoder_error(request: Request, exc: EncoderError) -> JSONResponse:
        return failure(request, status_for(exc), str(exc))

    @app.exception_handler(PayloadTooLarge)
    async def _too_large(request: Request, exc: PayloadTooLarge) -> JSONResponse:
        return failure(request, 413, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}" for e in exc.errors()
        )
        return failure(request, 422, f"invalid request body: {details}")

    @app.middleware("http")
    async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        route = request.url.path
        started = time.perf_counter()
        response = await call_next(request)
        if route != "/metrics":
            latency.labels(route).observe(time.perf_counter() - started)
            requests_total.labels(route, str(response.status_code)).inc()
        return response

    async def authorize(request: Request) -> None:
        if not settings.api_keys:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(token, k) for k in settings.api_keys):
            raise UnauthorizedError

    def check_size(texts: list[str]) -> None:
        if len(texts) > settings.max_inputs:
            raise PayloadTooLarge(f"{len(texts)} inputs, over the limit of {settings.max_inputs} per request")
        chars = sum(len(t) for t in texts)
        if chars > settings.max_request_chars:
            raise PayloadTooLarge(f"{chars:,} characters, over the limit of {settings.max_request_chars:,}")

    @app.exception_handler(UnauthorizedError)
    async def _unauthorized(request: Request, exc: UnauthorizedError) -> JSONResponse:
        response = failure(request, 401, "missing or invalid API key: send 'Authorization: Bearer <key>'")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.post(
        "/v1/embeddings",
        response_model=schemas.EmbeddingResponse,
        dependencies=[Depends(authorize)],
        responses={code: {"model": schemas.OpenAIError} for code in (400, 401, 404, 413, 422, 429, 503)},
        summary="Create embeddings (OpenAI-compatible)",
    )
    async def embeddings(body: schemas.EmbeddingRequest) -> schemas.EmbeddingResponse:
        try:
            texts = body.texts()
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc
        if not texts:
            raise InvalidInputError("input is empty: send at least one text")
        check_size(texts)
        texts_total.labels("/v1/embeddings").inc(len(texts))
        result = await state["client"].embed(texts, model=body.model, dimensions=body.dimensions)
        data = [
            schemas.EmbeddingData(index=i, embedding=_encode_vector(v, body.encoding_format))
            for i, v in enumerate(result.vectors)
        ]
        tokens = _prompt_tokens(result)
        return schemas.EmbeddingResponse(
            data=data, model=body.model, usage=schemas.Usage(prompt_tokens=tokens, total_tokens=tokens)
        )

    async def rerank(body: schemas.RerankRequest) -> schemas.RerankResponse:
        documents = body.document_texts()
        if not documents:
            raise InvalidInputError("documents is empty: send at least one document")
        check_size([body.query, *documents])
        texts_total.labels("/rerank").inc(len(documents))
        result = await state["client"].rerank(
            body.query, documents, model=body.model, top_k=body.top_n, return_documents=body.return_documents
        )
        results = [
            schemas.RerankResult(
                index=int(index),
                relevance_score=float(score),
                document=schemas.RerankDocument(text=documents[int(index)]) if body.return_documents else None,
            )
            for index, score in zip(result.indices, result.scores, strict=True)
        ]
        tokens = _prompt_tokens(result)
        return schemas.RerankResponse(
            model=body.model, results=results, usage=schemas.Usage(prompt_tokens=tokens, total_tokens=tokens)
        )

    rerank_responses: dict[int | str, dict[str, Any]] = {code: {"description": "error"} for code in (400, 404, 413)}
    for path in ("/rerank", "/v1/rerank"):
        app.post(
            path,
            response_model=schemas.RerankResponse,
            dependencies=[Depends(authorize)],
            responses=rerank_responses,
            summary="Rerank documents for a query (Cohere/Jina-compatible)",
        )(rerank)

    @app.post(
        "/classify",
        response_model=schemas.ClassifyResponse,
        dependencies=[Depends(authorize)],
        summary="Classify texts (labels from the model's id2label)",
    )
    async def classify(body: schemas.ClassifyRequest) -> schemas.ClassifyResponse:
        texts = body.texts()
        if not texts:
            raise InvalidInputError("input is empty: send at least one text")
        check_size(texts)
        texts_total.labels("/classify").inc(len(texts))
        result = await state["client"].classify(texts, model=body.model, top_k=body.top_k)
        data = [
            schemas.Classification(
                index=i,
                predictions=[
                    schemas.LabelScore(label=label, score=float(score))
                    for label, score in zip(result.top_labels[i], result.top_scores[i], strict=True)
                ],
            )
            for i in range(len(result))
        ]
        tokens = _prompt_tokens(result)
        return schemas.ClassifyResponse(
            model=body.model, data=data, usage=schemas.Usage(prompt_tokens=tokens, total_tokens=tokens)
        )

    @app.get("/v1/models", response_model=schemas.ModelList, dependencies=[Depends(authorize)])
    async def models() -> schemas.ModelList:
        infos = await state["client"].models()
        return schemas.ModelList(
            data=[
                schemas.ModelCard(
                    id=i.name,
                    task=i.task,
                    dimension=i.dimension,
                    max_length=i.max_length,
                    max_batch_size=i.max_batch_size,
                )
                for i in infos
            ]
        )

    @app.get("/health", summary="Ready when Triton is ready")
    async def health() -> JSONResponse:
        try:
            ready = await state["client"].health()
        except EncoderError as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok" if ready else "unavailable"}, status_code=200 if ready else 503)

    @app.get("/metrics", summary="Prometheus metrics of the gateway itself")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.settings = settings
    return app


def _encode_vector(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        # What the OpenAI SDK decodes: little-endian float32 bytes, base64.
        return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]


def _prompt_tokens(result: Any) -> int:
    return int(getattr(result, "prompt_tokens", None) or 0)
