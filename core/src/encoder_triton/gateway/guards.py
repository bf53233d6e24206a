"""What every route checks before calling a model: the API key and the request's size.

Example:
    >>> check_size(GatewaySettings(max_inputs=2, _env_file=None), ["a", "b", "c"])
    Traceback (most recent call last):
    ...
    encoder_triton.errors.PayloadTooLarge: 3 inputs, over the limit of 2 per request
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from fastapi import Request

from encoder_triton.errors import PayloadTooLarge, UnauthorizedError
from encoder_triton.gateway.backend import Backend
from encoder_triton.gateway.metrics import GatewayMetrics
from encoder_triton.gateway.settings import GatewaySettings


async def authorize(request: Request) -> None:
    """A FastAPI dependency: the bearer key, when keys are configured."""
    settings: GatewaySettings = request.app.state.settings
    if not settings.api_keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not any(hmac.compare_digest(token, k) for k in settings.api_keys):
        raise UnauthorizedError


def check_size(settings: GatewaySettings, texts: Sequence[str]) -> None:
    """413 for more inputs or characters (per request, per text) than the gateway accepts."""
    if len(texts) > settings.max_inputs:
        raise PayloadTooLarge(f"{len(texts)} inputs, over the limit of {settings.max_inputs} per request")
    lengths = [len(t) for t in texts]
    chars = sum(lengths)
    if chars > settings.max_request_chars:
        raise PayloadTooLarge(f"{chars:,} characters, over the limit of {settings.max_request_chars:,}")
    longest = max(lengths, default=0)
    if longest > settings.max_text_chars:
        index = lengths.index(longest)
        raise PayloadTooLarge(
            f"text {index} has {longest:,} characters, over the limit of {settings.max_text_chars:,} per text"
        )


def admitted(request: Request, route: str, texts: Sequence[str]) -> Backend:
    """Size-check `texts`, count them for `route`, and hand back the backend to call."""
    check_size(request.app.state.settings, texts)
    metrics: GatewayMetrics = request.app.state.metrics
    metrics.texts.labels(route).inc(len(texts))
    backend: Backend = request.app.state.backend
    return backend
