"""The gateway application: each API family's routes over one backend (Triton or in-process).

`create_app` only assembles: the routers of `routes/`, each family's error shape, request IDs
and the access log (`request_log`), metrics, and the backend made at startup (see `backend`).

Example:
    >>> app = create_app(GatewaySettings(triton_url="127.0.0.1:8001"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from encoder_triton.client import AsyncEncoderClient, EncoderError
from encoder_triton.errors import PayloadTooLarge, UnauthorizedError
from encoder_triton.gateway.backend import Backend
from encoder_triton.gateway.errors import ErrorShape, headers_for, message_error, status_for
from encoder_triton.gateway.metrics import GatewayMetrics
from encoder_triton.gateway.request_log import GATEWAY_LOGGER, RequestLogMiddleware
from encoder_triton.gateway.routes import classifier_server, cohere, hybrid, llamacpp, native, openai, tei
from encoder_triton.gateway.settings import GatewaySettings

#: The API families, each with its routes and its error shape.
FAMILIES = (openai, cohere, llamacpp, tei, classifier_server, native, hybrid)

_log = logging.getLogger(GATEWAY_LOGGER)


def create_app(settings: GatewaySettings, client: AsyncEncoderClient | None = None) -> FastAPI:
    """The FastAPI app; pass `client` to share one (tests), else the settings' engine makes one."""
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = Backend(client, repo=settings.repo) if client is not None else Backend.create(settings)
        app.state.backend = backend
        try:
            yield
        finally:
            if client is None:
                await backend.close()

    app = FastAPI(
        title="encoder-triton gateway",
        version="0.1.0",
        description="OpenAI-, Cohere-, Jina-, llama.cpp- and TEI-compatible APIs for encoder models "
        "served by NVIDIA Triton or in process.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    shapes: dict[str, ErrorShape] = {}
    for family in FAMILIES:
        app.include_router(family.router)
        shapes.update({route.path: family.error_shape for route in family.router.routes})

    def failure(request: Request, status: int, message: str) -> JSONResponse:
        route = request.scope.get("route")
        shape = shapes.get(getattr(route, "path", request.url.path), message_error)
        if status >= 500:
            _log.warning("%s %s answered %d: %s", request.method, request.url.path, status, message)
        return JSONResponse(shape(status, message), status_code=status, headers=headers_for(status))

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

    @app.exception_handler(UnauthorizedError)
    async def _unauthorized(request: Request, exc: UnauthorizedError) -> JSONResponse:
        response = failure(request, 401, "missing or invalid API key: send 'Authorization: Bearer <key>'")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.middleware("http")
    async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        route = request.url.path
        started = time.perf_counter()
        response = await call_next(request)
        if route != "/metrics":
            metrics.latency.labels(route).observe(time.perf_counter() - started)
            metrics.requests.labels(route, str(response.status_code)).inc()
        return response

    # Outermost: every request, errors and 404s included, gets an ID and an access-log line.
    app.add_middleware(RequestLogMiddleware, access_log=settings.access_log)
    return app
