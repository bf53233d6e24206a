"""Client errors -> HTTP status codes, and each API's own error body (the router's one job).

    InvalidInputError      400  (schema violations: 422)
    ModelNotFoundError     404
    too many / too large   413
    OverloadedError        429 + Retry-After
    ConnectError           503  (Triton down)
    RequestTimeoutError    504
    ServerError            502  (Triton failed; the gateway itself did not)

Each API family answers in the shape its clients parse (`ErrorShape`):

    openai            {"error": {"message", "type", "param", "code"}}
    message           {"message": ...}                       Cohere, Jina, /classify
    llamacpp          {"error": {"code": 400, "message", "type"}}
    tei               {"error": ..., "error_type": "validation" | "empty" | ...}
    detail            {"detail": ...}                        FastAPI's own, the /predict servers

Example:
    >>> status_for(OverloadedError("full"))
    429
    >>> tei_error(400, "`inputs` cannot be empty")
    {'error': '`inputs` cannot be empty', 'error_type': 'empty'}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from encoder_triton.client import (
    ConnectError,
    EncoderError,
    InvalidInputError,
    ModelNotFoundError,
    OverloadedError,
    RequestTimeoutError,
)

#: Seconds a client should wait after a 429 or 503 before trying again.
RETRY_AFTER_S = 1

#: (status, message) -> the JSON body of an error response.
ErrorShape = Callable[[int, str], dict[str, Any]]

_STATUS: list[tuple[type[EncoderError], int, str]] = [
    (InvalidInputError, 400, "invalid_request_error"),
    (ModelNotFoundError, 404, "model_not_found"),
    (OverloadedError, 429, "rate_limit_exceeded"),
    (ConnectError, 503, "service_unavailable"),
    (RequestTimeoutError, 504, "timeout"),
]


def status_for(error: EncoderError) -> int:
    return next((status for kind, status, _ in _STATUS if isinstance(error, kind)), 502)


def error_type(status: int) -> str:
    return next(
        (name for _, code, name in _STATUS if code == status),
        {
            401: "authentication_error",
            413: "request_too_large",
            422: "invalid_request_error",
        }.get(status, "server_error"),
    )


def openai_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type(status), "param": None, "code": str(status)}}


def message_error(status: int, message: str) -> dict[str, Any]:
    return {"message": message}


#: llama.cpp server's error types (its `format_error_response`) by status.
_LLAMACPP_TYPES = {
    401: "authentication_error",
    404: "not_found_error",
    501: "not_supported_error",
    503: "unavailable_error",
}


def llamacpp_error(status: int, message: str) -> dict[str, Any]:
    kind = _LLAMACPP_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"code": status, "message": message, "type": kind}}


#: text-embeddings-inference's `ErrorType` by status (its router maps them the other way).
_TEI_TYPES = {400: "empty", 413: "validation", 422: "validation", 424: "backend", 429: "overloaded", 503: "unhealthy"}


def tei_error(status: int, message: str) -> dict[str, Any]:
    return {"error": message, "error_type": _TEI_TYPES.get(status, "backend" if status >= 500 else "validation")}


def detail_error(status: int, message: str) -> dict[str, Any]:
    return {"detail": message}


def headers_for(status: int) -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)} if status in (429, 503) else {}
