"""Transports: tritonclient's HTTP and gRPC clients (sync and asyncio) behind one small interface.

A transport moves named numpy arrays to a model and back, and translates every tritonclient
and socket error into our tree in exactly one place (`_ErrorMap`), by status code and never by
message text. Over gRPC, a full queue and an unreachable server both answer UNAVAILABLE. There
the transport asks the server one structural question (is it live?) to tell them apart.

Example:
    >>> transport = TritonTransport("127.0.0.1:8001", protocol="grpc")  # doctest: +SKIP
    >>> transport.infer("minilm", {"TEXT": rows}, ["EMBEDDING"])["EMBEDDING"].shape  # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol

import numpy as np

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
#: Connections the sync HTTP client keeps for concurrent (split) requests.
_HTTP_POOL = 8

# gRPC status name -> exception; UNAVAILABLE is refined by a liveness probe.
_GRPC_STATUS: dict[str, type[EncoderError]] = {
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
        return _GRPC_STATUS.get(status.removeprefix("StatusCode."), ServerError)
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


class Transport(Protocol):
    """What the sync client needs from a transport (Triton over the network, or in-process)."""

    def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]: ...
    def infer_many(
        self, model: str, requests: list[dict[str, np.ndarray]], outputs: list[str], max_concurrency: int
    ) -> list[dict[str, np.ndarray] | EncoderError]: ...
    def model_config(self, model: str) -> dict[str, Any]: ...
    def model_names(self) -> list[str]: ...
    def is_ready(self) -> bool: ...
    def close(self) -> None: ...


class AsyncTransport(Protocol):
    async def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]: ...
    async def model_config(self, model: str) -> dict[str, Any]: ...
    async def model_names(self) -> list[str]: ...
    async def is_ready(self) -> bool: ...
    async def close(self) -> None: ...


class _ErrorMap:
    """The one place tritonclient / socket errors become ours."""

    def __init__(self, url: str, protocol: ProtocolName, timeout: float) -> None:
        self.url, self.protocol, self.timeout = url, protocol, timeout

    def kind(self, exc: BaseException) -> type[EncoderError] | None:
        from tritonclient.utils import InferenceServerException

        if isinstance(exc, InferenceServerException):
            return exception_for_status(exc.status())
        if isinstance(exc, TimeoutError | socket.timeout):
            return RequestTimeoutError
        # A response cut off mid-way (geventhttpclient raises http.client.HTTPException
        # subclasses, aiohttp ClientConnectionError): the server went away.
        if isinstance(exc, ConnectionError | socket.gaierror | OSError | http.client.HTTPException):
            return ConnectError
        if _is_aiohttp_connection_error(exc):
            return ConnectError
        return None

    def needs_liveness_probe(self, kind: type[EncoderError]) -> bool:
        # HTTP 503 comes from a live server; only gRPC's UNAVAILABLE is ambiguous.
        return kind is OverloadedError and self.protocol == "grpc"

    def error(self, kind: type[EncoderError], exc: BaseException, model: str | None) -> EncoderError:
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


def _is_aiohttp_connection_error(exc: BaseException) -> bool:
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - aiohttp comes with tritonclient[http]
        return False
    return isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError)


def _infer_inputs(module: Any, inputs: dict[str, np.ndarray]) -> list[Any]:
    from tritonclient.utils import np_to_triton_dtype

    infer_inputs = []
    for name, array in inputs.items():
        dtype = "BYTES" if array.dtype == np.object_ else str(np_to_triton_dtype(array.dtype))
        tensor = module.InferInput(name, list(array.shape), dtype)
        tensor.set_data_from_numpy(array)
        infer_inputs.append(tensor)
    return infer_inputs


def _names_from_statistics(stats: dict[str, Any]) -> list[str]:
    # The statistics API lists every loaded model and, unlike the repository index, is not an
    # admin API that deployments restrict.
    return sorted({str(m["name"]) for m in stats.get("model_stats", [])})


class TritonTransport:
    """tritonclient's sync HTTP or gRPC client."""

    def __init__(
        self,
        url: str,
        *,
        protocol: ProtocolName = "grpc",
        timeout: float = 60.0,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")
        self.url, self.protocol, self.timeout = url, protocol, timeout
        self.headers = dict(headers or {})
        self._errors = _ErrorMap(url, protocol, timeout)
        if protocol == "grpc":
            import tritonclient.grpc as triton

            self._module: Any = triton
            self._client: Any = triton.InferenceServerClient(url, ssl=ssl)
        else:
            import tritonclient.http as triton

            self._module = triton
            # gevent underneath: not safe across OS threads, so `infer_many` uses its own
            # greenlet pool (one connection each) from the calling thread.
            self._client = triton.InferenceServerClient(
                url, ssl=ssl, connection_timeout=timeout, network_timeout=timeout, concurrency=_HTTP_POOL
            )
        self._threads: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        self._client.close()

    def infer_many(
        self, model: str, requests: list[dict[str, np.ndarray]], outputs: list[str], max_concurrency: int
    ) -> list[dict[str, np.ndarray] | EncoderError]:
        """Send `requests` at most `max_concurrency` at a time; results (or errors) in order."""

        def one(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | EncoderError:
            try:
                return self.infer(model, inputs, outputs)
            except EncoderError as exc:
                return exc

        if len(requests) <= 1 or max_concurrency <= 1:
            return [one(r) for r in requests]
        if self.protocol == "http":
            return self._infer_many_http(model, requests, outputs, min(max_concurrency, _HTTP_POOL))
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_concurrency, thread_name_prefix="encoder-triton-grpc")
        results: list[dict[str, np.ndarray] | EncoderError] = []
        for start in range(0, len(requests), max_concurrency):  # bounded in flight, in order
            results += list(self._threads.map(one, requests[start : start + max_concurrency]))
        return results

    def _infer_many_http(
        self, model: str, requests: list[dict[str, np.ndarray]], outputs: list[str], window: int
    ) -> list[dict[str, np.ndarray] | EncoderError]:
        results: list[dict[str, np.ndarray] | EncoderError] = []
        for start in range(0, len(requests), window):
            pending = []
            for inputs in requests[start : start + window]:
                with self.map_errors(model):
                    pending.append(
                        self._client.async_infer(
                            model,
                            _infer_inputs(self._module, inputs),
                            outputs=[self._module.InferRequestedOutput(n) for n in outputs],
                            headers=self.headers,
                        )
                    )
            for request in pending:
                try:
                    with self.map_errors(model):
                        result = request.get_result(timeout=self.timeout)
                    results.append({name: result.as_numpy(name) for name in outputs})
                except EncoderError as exc:
                    results.append(exc)
        return results

    def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        infer_inputs = _infer_inputs(self._module, inputs)
        requested = [self._module.InferRequestedOutput(name) for name in outputs]
        with self.map_errors(model):
            if self.protocol == "grpc":
                result = self._client.infer(
                    model, infer_inputs, outputs=requested, client_timeout=self.timeout, headers=self.headers
                )
            else:
                result = self._client.infer(model, infer_inputs, outputs=requested, headers=self.headers)
        return {name: result.as_numpy(name) for name in outputs}

    def is_ready(self) -> bool:
        with self.map_errors(None):
            return bool(self._client.is_server_ready(headers=self.headers))

    def model_config(self, model: str) -> dict[str, Any]:
        with self.map_errors(model):
            if self.protocol == "grpc":
                return dict(self._client.get_model_config(model, headers=self.headers, as_json=True)["config"])
            return dict(self._client.get_model_config(model, headers=self.headers))

    def model_names(self) -> list[str]:
        with self.map_errors(None):
            if self.protocol == "grpc":
                return _names_from_statistics(self._client.get_inference_statistics(headers=self.headers, as_json=True))
            return _names_from_statistics(self._client.get_inference_statistics(headers=self.headers))

    @contextlib.contextmanager
    def map_errors(self, model: str | None) -> Iterator[None]:
        try:
            yield
        except EncoderError:
            raise
        except Exception as exc:
            kind = self._errors.kind(exc)
            if kind is None:
                raise
            if self._errors.needs_liveness_probe(kind) and not self._live():
                kind = ConnectError
            raise self._errors.error(kind, exc, model) from exc

    def _live(self) -> bool:
        try:
            return bool(self._client.is_server_live(headers=self.headers))
        except Exception:  # noqa: BLE001 - any failure means "not live"
            return False


class AsyncTritonTransport:
    """tritonclient's asyncio HTTP or gRPC client."""

    def __init__(
        self,
        url: str,
        *,
        protocol: ProtocolName = "grpc",
        timeout: float = 60.0,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")
        self.url, self.protocol, self.timeout = url, protocol, timeout
        self.headers = dict(headers or {})
        self._errors = _ErrorMap(url, protocol, timeout)
        if protocol == "grpc":
            import tritonclient.grpc as sync_module
            import tritonclient.grpc.aio as triton

            self._module: Any = sync_module
            self._client: Any = triton.InferenceServerClient(url, ssl=ssl)
        else:
            import tritonclient.http as sync_module
            import tritonclient.http.aio as triton

            self._module = sync_module
            self._client = triton.InferenceServerClient(url, ssl=ssl, conn_timeout=timeout)

    async def close(self) -> None:
        await self._client.close()

    async def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        infer_inputs = _infer_inputs(self._module, inputs)
        requested = [self._module.InferRequestedOutput(name) for name in outputs]
        async with self.map_errors(model):
            call = self._client.infer(model, infer_inputs, outputs=requested, headers=self.headers)
            # asyncio enforces the deadline for both protocols (aiohttp has no per-call timeout).
            result = await asyncio.wait_for(call, self.timeout)
        return {name: result.as_numpy(name) for name in outputs}

    async def is_ready(self) -> bool:
        async with self.map_errors(None):
            return bool(await self._client.is_server_ready(headers=self.headers))

    async def model_config(self, model: str) -> dict[str, Any]:
        async with self.map_errors(model):
            if self.protocol == "grpc":
                return dict((await self._client.get_model_config(model, headers=self.headers, as_json=True))["config"])
            return dict(await self._client.get_model_config(model, headers=self.headers))

    async def model_names(self) -> list[str]:
        async with self.map_errors(None):
            if self.protocol == "grpc":
                stats = await self._client.get_inference_statistics(headers=self.headers, as_json=True)
            else:
                stats = await self._client.get_inference_statistics(headers=self.headers)
        return _names_from_statistics(stats)

    @contextlib.asynccontextmanager
    async def map_errors(self, model: str | None) -> AsyncIterator[None]:
        try:
            yield
        except EncoderError:
            raise
        except Exception as exc:
            kind = self._errors.kind(exc)
            if kind is None:
                raise
            if self._errors.needs_liveness_probe(kind) and not await _probe(
                lambda: self._client.is_server_live(headers=self.headers)
            ):
                kind = ConnectError
            raise self._errors.error(kind, exc, model) from exc


async def _probe(call: Callable[[], Awaitable[Any]]) -> bool:
    try:
        return bool(await asyncio.wait_for(call(), 5))
    except Exception:  # noqa: BLE001 - any failure means "no"
        return False
