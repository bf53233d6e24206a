"""Client errors -> HTTP status codes and each API's own error shape (the router's one job).

    InvalidInputError      400  (schema violations: 422)
    ModelNotFoundError     404
    too many / too large   413
    OverloadedError        429 + Retry-After
    ConnectError           503  (Triton down)
    RequestTimeoutError    504
    ServerError            502  (Triton failed; the gateway itself did not)

OpenAI routes answer `{"error": {"message", "type", "code"}}`; Cohere-style routes answer
`{"message": ...}`.

Example:
    >>> status_for(OverloadedError("full"))
    429
"""

from __future__ import annotations

from typing import Any

from encoder_triton.client import (
    ConnectError,
    EncoderError,
    InvalidInputError,
    ModelNotFoundError,
    OverloadedError,
    RequestTimeoutError,
)

#: Seconds a client should wait after a 429 before trying again.
RETRY_AFTER_S = 1

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


def error_body(status: int, message: str, *, openai_style: bool) -> dict[str, Any]:
    if openai_style:
        return {"error": {"message": message, "type": error_type(status), "param": None, "code": str(status)}}
    return {"message": message}


def headers_for(status: int) -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)} if status in (429, 503) else {}
