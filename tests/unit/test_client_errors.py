"""Every upstream error type goes through the one error map to a specific class of our tree.

The tables below are the specification: every gRPC status and every HTTP status as tritonclient
raises them, the socket errors, the geventhttpclient errors of tritonclient's HTTP client, the
aiohttp errors of its asyncio HTTP client, and asyncio's timeout. A rule added to the map
without a row here fails `test_the_tables_exercise_every_rule_of_the_map`.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import aiohttp
import grpc
import numpy as np
import pytest
from aiohttp.client_reqrep import ConnectionKey
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError, HTTPProtocolViolationError
from tritonclient.utils import InferenceServerException

from encoder_triton.client import (
    AsyncEncoderClient,
    ConnectError,
    EncoderClient,
    EncoderError,
    InvalidInputError,
    ModelNotFoundError,
    OverloadedError,
    RequestTimeoutError,
    ServerError,
)
from encoder_triton.client._tasks import encode_texts
from encoder_triton.client._transports._errors import ErrorMap, matching_rule, rules

# Every gRPC status, as tritonclient's gRPC clients raise it ("StatusCode.X"), with the server live.
GRPC_EXPECTED: dict[str, type[EncoderError]] = {
    "OK": ServerError,  # an error carrying OK is the server misbehaving
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
    "UNAVAILABLE": OverloadedError,  # from a live server: its queue is full
    "DATA_LOSS": ServerError,
    "UNAUTHENTICATED": InvalidInputError,
}

# Every HTTP status code, as tritonclient's HTTP clients raise it (str(response.status_code)).
HTTP_EXPECTED: dict[int, type[EncoderError]] = {
    **{code: ServerError for code in range(100, 400)},  # not an error status: the server misbehaved
    **{code: InvalidInputError for code in range(400, 500)},
    **{code: ServerError for code in range(500, 600)},
    404: ModelNotFoundError,
    408: RequestTimeoutError,
    429: OverloadedError,
    503: OverloadedError,
    504: RequestTimeoutError,
}

_KEY = ConnectionKey("127.0.0.1", 8000, False, True, None, None, None, None)

# Errors raised below tritonclient: sockets, geventhttpclient (sync HTTP), aiohttp (asyncio HTTP).
UPSTREAM_EXPECTED: list[tuple[BaseException, type[EncoderError]]] = [
    (ConnectionRefusedError(111, "Connection refused"), ConnectError),
    (ConnectionResetError(104, "Connection reset by peer"), ConnectError),
    (ConnectionAbortedError(103, "Software caused connection abort"), ConnectError),
    (BrokenPipeError(32, "Broken pipe"), ConnectError),
    (TimeoutError("timed out"), RequestTimeoutError),  # socket.timeout is TimeoutError (3.10+)
    (asyncio.TimeoutError(), RequestTimeoutError),
    (socket.gaierror(-2, "Name or service not known"), ConnectError),
    (OSError(113, "No route to host"), ConnectError),
    (HTTPConnectionClosed("connection closed."), ConnectError),
    (HTTPParseError("connection closed before end of the headers"), ConnectError),
    (HTTPProtocolViolationError("A new response began before end of the last"), ConnectError),
    (http.client.RemoteDisconnected("Remote end closed connection without response"), ConnectError),
    (http.client.IncompleteRead(b"partial"), ConnectError),
    (aiohttp.ClientConnectorError(_KEY, OSError(111, "Connection refused")), ConnectError),
    (aiohttp.ServerDisconnectedError(), ConnectError),
    (aiohttp.ClientPayloadError("Response payload is not completed"), ConnectError),
    (aiohttp.ClientOSError(104, "Connection reset by peer"), ConnectError),
    (aiohttp.ServerTimeoutError("Timeout on reading data from socket"), RequestTimeoutError),
]


def _triton(status: str | None) -> InferenceServerException:
    return InferenceServerException(msg="the server said no", status=status)


def _mapped(exc: BaseException, protocol: str = "grpc", live: Callable[[], bool] = lambda: True) -> EncoderError:
    """What the sync mapping raises for `exc` (checked to be chained to it)."""
    errors = ErrorMap("127.0.0.1:1", protocol, timeout=1.0)  # type: ignore[arg-type]
    with pytest.raises(EncoderError) as info:
        with errors.mapping("m", live=live):
            raise exc
    assert info.value.__cause__ is exc
    return info.value


def _mapped_async(exc: BaseException, protocol: str = "grpc") -> EncoderError:
    errors = ErrorMap("127.0.0.1:1", protocol, timeout=1.0)  # type: ignore[arg-type]

    async def live() -> bool:
        return True

    async def main() -> None:
        async with errors.async_mapping("m", live=live):
            raise exc

    with pytest.raises(EncoderError) as info:
        asyncio.run(main())
    return info.value


def test_every_grpc_status_maps_to_its_class() -> None:
    assert set(GRPC_EXPECTED) == {code.name for code in grpc.StatusCode}
    got = {name: type(_mapped(_triton(f"StatusCode.{name}"))) for name in GRPC_EXPECTED}
    assert got == GRPC_EXPECTED
    got = {name: type(_mapped_async(_triton(f"StatusCode.{name}"))) for name in GRPC_EXPECTED}
    assert got == GRPC_EXPECTED


def test_every_http_status_maps_to_its_class() -> None:
    got = {code: type(_mapped(_triton(str(code)), "http")) for code in HTTP_EXPECTED}
    assert got == HTTP_EXPECTED
    got = {code: type(_mapped_async(_triton(str(code)), "http")) for code in (400, 404, 408, 429, 500, 503, 504)}
    assert got == {code: HTTP_EXPECTED[code] for code in got}


@pytest.mark.parametrize("status", [None, "", "garbage", "StatusCode.NOT_A_CODE"])
def test_a_status_tritonclient_does_not_explain_is_a_server_error(status: str | None) -> None:
    assert type(_mapped(_triton(status))) is ServerError


@pytest.mark.parametrize(("exc", "expected"), UPSTREAM_EXPECTED, ids=lambda v: type(v).__name__)
def test_socket_gevent_and_aiohttp_errors_map_to_their_class(exc: BaseException, expected: type) -> None:
    assert type(_mapped(exc, "http")) is expected
    assert type(_mapped_async(exc, "http")) is expected


def test_the_tables_exercise_every_rule_of_the_map() -> None:
    rows = [_triton("StatusCode.INTERNAL"), _triton("500"), *(exc for exc, _ in UPSTREAM_EXPECTED)]
    exercised = {rule.name for rule in (matching_rule(exc) for exc in rows) if rule is not None}
    assert exercised == {rule.name for rule in rules()}


@pytest.mark.parametrize("exc", [ValueError("a bug"), KeyError("EMBEDDING"), RuntimeError("connection pool closed")])
def test_errors_that_are_not_upstreams_pass_through_unchanged(exc: Exception) -> None:
    with pytest.raises(type(exc)) as info, ErrorMap("u", "grpc", 1.0).mapping("m", live=lambda: True):
        raise exc
    assert info.value is exc


def test_grpc_unavailable_is_told_apart_by_a_liveness_probe() -> None:
    unavailable = _triton("StatusCode.UNAVAILABLE")
    assert type(_mapped(unavailable, live=lambda: True)) is OverloadedError
    assert type(_mapped(unavailable, live=lambda: False)) is ConnectError

    def unreachable() -> bool:
        raise ConnectionRefusedError(111, "Connection refused")

    assert type(_mapped(unavailable, live=unreachable)) is ConnectError
    probes: list[str] = []
    assert type(_mapped(_triton("503"), "http", live=lambda: probes.append("probe") or False)) is OverloadedError
    assert probes == [], "an HTTP 503 comes from a live server: no probe"


def test_messages_say_where_and_what_to_do() -> None:
    assert "cannot reach Triton at 127.0.0.1:1 (grpc): is the server running?" in str(
        _mapped(ConnectionRefusedError(111, "Connection refused"))
    )
    assert "model 'm' is not loaded on Triton at 127.0.0.1:1: the server said no" == str(
        _mapped(_triton("StatusCode.NOT_FOUND"))
    )
    assert "did not answer within 1.0 s" in str(_mapped(TimeoutError()))
    assert str(_mapped(_triton("400"))) == "the server said no"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"127.0.0.1:{server.getsockname()[1]}"


ROWS = np.array([[b"x"]], dtype=object)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_real_tritonclient_errors_without_a_server(protocol: str) -> None:
    """No server: ConnectError; a server that never answers: RequestTimeoutError (sync and async)."""
    url = f"127.0.0.1:{_free_port()}"
    with EncoderClient(url, protocol=protocol, timeout=2) as client, pytest.raises(ConnectError):  # type: ignore[arg-type]
        client.embed(["x"], model="m")

    async def embed() -> None:
        async with AsyncEncoderClient(url, protocol=protocol, timeout=2) as client:  # type: ignore[arg-type]
            await client.embed(["x"], model="m")

    with pytest.raises(ConnectError):
        asyncio.run(embed())
    with _silent_server() as silent:  # the transports bound inference by the timeout
        from encoder_triton.client._transports.triton import AsyncTritonTransport, TritonTransport

        transport = TritonTransport(silent, protocol=protocol, timeout=0.5)  # type: ignore[arg-type]
        with pytest.raises(RequestTimeoutError):
            transport.infer("m", {"TEXT": ROWS}, ["EMBEDDING"])
        transport.close()

        async def infer() -> None:
            transport = AsyncTritonTransport(silent, protocol=protocol, timeout=0.5)  # type: ignore[arg-type]
            try:
                await transport.infer("m", {"TEXT": ROWS}, ["EMBEDDING"])
            finally:
                await transport.close()

        with pytest.raises(RequestTimeoutError):
            asyncio.run(infer())


def test_retryable_errors_are_marked() -> None:
    assert ConnectError.retryable and OverloadedError.retryable and RequestTimeoutError.retryable
    assert not InvalidInputError.retryable and not ServerError.retryable and not ModelNotFoundError.retryable


def test_texts_are_sent_as_utf8_rows() -> None:
    rows = encode_texts(["é", "b"])
    assert rows.shape == (2, 1) and rows[0, 0] == "é".encode()
    assert encode_texts("single").shape == (1, 1)


@pytest.mark.parametrize(
    ("texts", "message"), [([], "texts is empty"), ([1], "text 0 has type int"), (5, "texts must")]
)
def test_bad_texts_fail_before_the_network(texts: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        encode_texts(texts)  # type: ignore[arg-type]
