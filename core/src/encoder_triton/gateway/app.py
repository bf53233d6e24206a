"""The gateway application: each API family's routes over one backend (Triton or in-process).

`create_app` only assembles: the routers of `routes/`, each family's error shape, request IDs
and the access log (`request_log`), admission (`admission`: requests in flight, body bytes and
time), metrics, and the backend made and started at startup (see `backend`, `upstreams`).

Example:
    >>> app = create_app(GatewaySettings(triton_url="127.0.0.1:8001"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from encoder_triton.client import AsyncEncoderClient, EncoderError
from encoder_triton.errors import PayloadTooLarge, UnauthorizedError
from encoder_triton.gateway.admission import AdmissionMiddleware
from encoder_triton.gateway.backend import Backend
from encoder_triton.gateway.errors import ErrorShape, headers_for, message_error, status_for
from encoder_triton.gateway.metrics import GatewayMetrics
from encoder_triton.gateway.request_log import GATEWAY_LOGGER, RequestLogMiddleware
from encoder_triton.gateway.routes import classifier_server, cohere, hybrid, llamacpp, native, openai, probes, tei
from encoder_triton.gateway.settings import GatewaySettings

#: The API families, each with its routes and its error shape.
FAMILIES = (openai, cohere, llamacpp, tei, classifier_server, native, hybrid, probes)
#: FastAPI's detail when a body cannot be read as JSON at all (not UTF-8, nested too deep).
_UNPARSEABLE = "There was an error parsing the body"
#: The metrics' route label of requests no route matched (paths would grow the series forever).
UNMATCHED = "(unmatched)"

_log = logging.getLogger(GATEWAY_LOGGER)


def create_app(
    settings: GatewaySettings, client: AsyncEncoderClient | None = None, *, backend: Backend | None = None
) -> FastAPI:
    """The FastAPI app; pass a `client` or a `backend` to share one (tests; the app starts it and
    leaves closing it to the caller), else the settings' engine makes one at startup."""

    def upstreams() -> list[Any]:
        running: Backend | None = getattr(app.state, "backend", None)
        return running.upstreams() if running is not None else []

    metrics = GatewayMetrics(upstreams)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        shared = backend or (Backend(client, repo=settings.repo) if client is not None else None)
        app.state.backend = shared or Backend.create(settings)
        try:
            await app.state.backend.start()
            yield
        finally:
            if shared is None:
                await app.state.backend.close()

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

    def shape_for(path: str) -> ErrorShape:
        return shapes.get(path, message_error)

    def failure(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        route = request.scope.get("route")
        shape = shape_for(getattr(route, "path", request.url.path))
        if status >= 500:
            _log.warning("%s %s answered %d: %s", request.method, request.url.path, status, message)
        return JSONResponse(
            shape(status, message), status_code=status, headers={**headers_for(status), **(headers or {})}
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

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if request.scope.get("route") is None:  # no route: FastAPI's own 404 / 405
            return await http_exception_handler(request, exc)
        message = unreadable_body(exc) if exc.detail == _UNPARSEABLE else str(exc.detail)
        return failure(request, exc.status_code, message, dict(exc.headers or {}))

    @app.exception_handler(UnauthorizedError)
    async def _unauthorized(request: Request, exc: UnauthorizedError) -> JSONResponse:
        response = failure(request, 401, "missing or invalid API key: send 'Authorization: Bearer <key>'")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    # Innermost of the middlewares, so that the metrics and the access log see what it refuses.
    app.add_middleware(
        AdmissionMiddleware,
        max_in_flight=settings.max_in_flight,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        shape_for=shape_for,
    )

    @app.middleware("http")
    async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        matched = request.scope.get("route")
        route = getattr(matched, "path", None) or (request.url.path if request.url.path in shapes else UNMATCHED)
        if route != "/metrics":
            metrics.latency.labels(route).observe(time.perf_counter() - started)
            metrics.requests.labels(route, str(response.status_code)).inc()
        return response

    # Outermost: every request, errors and 404s included, gets an ID and an access-log line.
    app.add_middleware(RequestLogMiddleware, access_log=settings.access_log)
    return app


def unreadable_body(exc: HTTPException) -> str:
    """Why FastAPI could not read a body as JSON, from the error it chained."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return "invalid request body: it is not valid UTF-8"
    if isinstance(cause, RecursionError):
        return "invalid request body: the JSON nests too deeply"
    if isinstance(cause, json.JSONDecodeError):
        return f"invalid request body: {cause}"
    return "invalid request body: it could not be read as JSON"
