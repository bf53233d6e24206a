"""The one place where tritonclient, socket, gevent and aiohttp errors become the client's tree.

An upstream error is matched on its type, in the order of `rules()`; a tritonclient
`InferenceServerException` is then decided by its status code (gRPC 'StatusCode.X' or an HTTP
code as a string), never by its message text. Over gRPC, a full queue and an unreachable server
both answer UNAVAILABLE: the transport asks the server one structural question (is it live?)
and a server that is not live makes it a `ConnectError`.

Example:
    >>> errors = ErrorMap("127.0.0.1:8001", "grpc", timeout=60.0)
    >>> errors.kind(ConnectionRefusedError(111, "Connection refused")).__name__
    'ConnectError'
    >>> with errors.mapping("minilm", live=lambda: True):  # tritonclient calls go in here
    ...     pass
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from encoder_triton.client._exceptions import (
    ConnectError,
    EncoderError,
    InvalidInputError,
    ModelNotFoundError,
    OverloadedError,
    RequestTimeoutError,
    ServerError,
)

ProtocolName = Literal["grpc", "http"]

# gRPC status name -> exception; UNAVAILABLE is refined by a liveness probe.
GRPC_STATUS: dict[str, type[EncoderError]] = {
    "OK": ServerError,
    "CANCELLED": RequestTimeoutError,
    "UNKNOWN": ServerError,
    "INVALID_ARGUMENT": InvalidInputError,
    "DEADLINE_EXCEEDED": RequestTimeoutError,
    "NOT_FOUND": ModelNotFoundError,
    "ALREADY_EXISTS": InvalidInputError,
    "PERMISSION_DENIED": InvalidInputError,
    "RESOURCE_EXHAUSTED": OverloadedError,
    "FAILED_PRECONDITION": InvalidInputError,
    "ABORTED": ServerError,
    "OUT_OF_RANGE": InvalidInputError,
    "UNIMPLEMENTED": ServerError,
    "INTERNAL": ServerError,
    "UNAVAILABLE": OverloadedError,
    "DATA_LOSS": ServerError,
    "UNAUTHENTICATED": InvalidInputError,
}


def exception_for_status(status: str | None) -> type[EncoderError]:
    """The exception class for a tritonclient status: 'StatusCode.X' (gRPC) or an HTTP code."""
    if not status:
        return ServerError
    if status.startswith("StatusCode."):
        return GRPC_STATUS.get(status.removeprefix("StatusCode."), ServerError)
    try:
        code = int(status)
    except ValueError:
        return ServerError
    if code in (408, 504):
        return RequestTimeoutError
    if code == 404:
        return ModelNotFoundError
    if code in (429, 503):
        return OverloadedError
    if 400 <= code < 500:
        return InvalidInputError
    return ServerError


@dataclass(frozen=True)
class Rule:
    """Upstream exception types and what they become; `kind` None: decided by the status code."""

    name: str
    types: tuple[type[BaseException], ...]
    kind: type[EncoderError] | None


@functools.cache
def rules() -> tuple[Rule, ...]:
    """Every upstream error type the map knows, most specific first (the first match wins).

    Imported on first use: tritonclient, gevent and aiohttp are not loaded by importing the client.
    """
    import aiohttp
    from geventhttpclient.response import HTTPParseError
    from tritonclient.utils import InferenceServerException

    return (
        Rule("tritonclient status", (InferenceServerException,), None),
        # Before the connection errors: aiohttp's ServerTimeoutError is also a ClientConnectionError.
        # socket.timeout is TimeoutError; asyncio.TimeoutError is too from Python 3.11.
        Rule("timeout", (TimeoutError, asyncio.TimeoutError), RequestTimeoutError),
        # tritonclient's sync HTTP client (geventhttpclient): a response cut off mid-way.
        Rule("geventhttpclient parse", (HTTPParseError,), ConnectError),
        Rule("aiohttp connection", (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError), ConnectError),
        Rule("socket connection", (ConnectionError,), ConnectError),
        Rule("name resolution", (socket.gaierror,), ConnectError),
        Rule("http.client", (http.client.HTTPException,), ConnectError),
        Rule("os", (OSError,), ConnectError),
    )


def matching_rule(exc: BaseException) -> Rule | None:
    """The first rule whose types `exc` is an instance of (None: not an upstream error we know)."""
    return next((rule for rule in rules() if isinstance(exc, rule.types)), None)


class ErrorMap:
    """Translates upstream errors for one server address into the client's exception tree."""

    def __init__(self, url: str, protocol: ProtocolName, timeout: float) -> None:
        self.url, self.protocol, self.timeout = url, protocol, timeout

    def kind(self, exc: BaseException) -> type[EncoderError] | None:
        """Our class for `exc`, before the liveness probe; None when `exc` is not upstream's."""
        rule = matching_rule(exc)
        if rule is None:
            return None
        if rule.kind is None:
            return exception_for_status(exc.status())  # type: ignore[attr-defined]
        return rule.kind

    def needs_liveness_probe(self, kind: type[EncoderError]) -> bool:
        # HTTP 503 comes from a live server; only gRPC's UNAVAILABLE is ambiguous.
        return kind is OverloadedError and self.protocol == "grpc"

    def error(self, kind: type[EncoderError], exc: BaseException, model: str | None) -> EncoderError:
        """The exception to raise, with a message that says what to do."""
        from tritonclient.utils import InferenceServerException

        detail = exc.message() if isinstance(exc, InferenceServerException) else str(exc)
        detail = detail or type(exc).__name__
        if kind is ModelNotFoundError:
            message = f"model {model!r} is not loaded on Triton at {self.url}: {detail}"
        elif kind is ConnectError:
            message = f"cannot reach Triton at {self.url} ({self.protocol}): is the server running? ({detail})"
        elif kind is RequestTimeoutError:
            message = f"Triton at {self.url} did not answer within {self.timeout} s ({detail})"
        elif kind is OverloadedError:
            message = f"Triton at {self.url} is overloaded, retry later: {detail}"
        else:
            message = detail
        return kind(message)

    @contextlib.contextmanager
    def mapping(self, model: str | None, *, live: Callable[[], bool]) -> Iterator[None]:
        """Raise upstream errors inside the block as ours; `live` probes the server when ambiguous."""
        try:
            yield
        except EncoderError:
            raise
        except Exception as exc:
            kind = self.kind(exc)
            if kind is None:
                raise
            if self.needs_liveness_probe(kind) and not _probe(live):
                kind = ConnectError
            raise self.error(kind, exc, model) from exc

    @contextlib.asynccontextmanager
    async def async_mapping(self, model: str | None, *, live: Callable[[], Awaitable[bool]]) -> AsyncIterator[None]:
        """`mapping` for the asyncio transports."""
        try:
            yield
        except EncoderError:
            raise
        except Exception as exc:
            kind = self.kind(exc)
            if kind is None:
                raise
            if self.needs_liveness_probe(kind) and not await _async_probe(live):
                kind = ConnectError
            raise self.error(kind, exc, model) from exc


def _probe(live: Callable[[], bool]) -> bool:
    try:
        return bool(live())
    except Exception:  # noqa: BLE001 - any failure means "not live"
        return False


async def _async_probe(live: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return bool(await asyncio.wait_for(live(), 5))
    except Exception:  # noqa: BLE001 - any failure means "not live"
        return False
