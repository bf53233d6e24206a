"""Triton transports (HTTP and gRPC) and the one place tritonclient errors are translated.

`TritonTransport.map_errors` decides by status code, never by message text. Over gRPC a full
queue and an unreachable server both answer UNAVAILABLE; there the transport asks the server
one structural question (is it live?) to pick the right exception.

Example:
    >>> transport = TritonTransport("127.0.0.1:8001", protocol="grpc")  # doctest: +SKIP
    >>> transport.infer("minilm", {"TEXT": texts}, ["EMBEDDING"])["EMBEDDING"].shape  # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any, Literal

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

Protocol = Literal["grpc", "http"]

# gRPC status name -> exception. UNAVAILABLE and INVALID_ARGUMENT/NOT_FOUND are refined below.
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
    if code == 413 or 400 <= code < 500:
        return InvalidInputError
    return ServerError


class TritonTransport:
    """tritonclient's sync HTTP or gRPC client behind one small interface."""

    def __init__(
        self,
        url: str,
        *,
        protocol: Protocol = "grpc",
        timeout: float = 60.0,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")
        self.url = url
        self.protocol: Protocol = protocol
        self.timeout = timeout
        self.headers = dict(headers or {})
        if protocol == "grpc":
            import tritonclient.grpc as triton

            self._module: Any = triton
            self._client: Any = triton.InferenceServerClient(url, ssl=ssl)
        else:
            import tritonclient.http as triton

            self._module = triton
            self._client = triton.InferenceServerClient(
                url, ssl=ssl, connection_timeout=timeout, network_timeout=timeout
            )

    def close(self) -> None:
        self._client.close()

    def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        """Run `model` on `inputs` ({name: array}); returns the requested outputs as arrays."""
        infer_inputs = []
        for name, array in inputs.items():
            dtype = "BYTES" if array.dtype == np.object_ else _triton_dtype(array.dtype)
            tensor = self._module.InferInput(name, list(array.shape), dtype)
            tensor.set_data_from_numpy(array)
            infer_inputs.append(tensor)
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
        """The model's config as a dict (the same shape over HTTP and gRPC)."""
        with self.map_errors(model):
            if self.protocol == "grpc":
                return dict(self._client.get_model_config(model, headers=self.headers, as_json=True)["config"])
            return dict(self._client.get_model_config(model, headers=self.headers))

    @contextlib.contextmanager
    def map_errors(self, model: str | None) -> Iterator[None]:
        """Translate every tritonclient / socket error into our tree (the only place we do)."""
        from tritonclient.utils import InferenceServerException

        try:
            yield
        except InferenceServerException as exc:
            kind = exception_for_status(exc.status())
            kind = self._refine(kind, model)
            raise kind(self._describe(kind, exc.message(), model)) from exc
        except (ConnectionError, socket.gaierror) as exc:
            raise ConnectError(f"cannot reach Triton at {self.url} ({self.protocol}): is the server running?") from exc
        except TimeoutError as exc:
            raise RequestTimeoutError(f"Triton at {self.url} did not answer within {self.timeout} s") from exc
        except OSError as exc:
            raise ConnectError(f"cannot reach Triton at {self.url} ({self.protocol}): {exc}") from exc

    def _refine(self, kind: type[EncoderError], model: str | None) -> type[EncoderError]:
        # gRPC says UNAVAILABLE both for a full queue and for a server it cannot reach: one
        # structural probe (is the server live?) tells them apart, only on the error path.
        if kind is OverloadedError and not self._probe(lambda: self._client.is_server_live(headers=self.headers)):
            return ConnectError
        return kind

    @staticmethod
    def _probe(call: Any) -> bool:
        try:
            return bool(call())
        except Exception:  # noqa: BLE001 - any failure means "no"
            return False

    def _describe(self, kind: type[EncoderError], message: str | None, model: str | None) -> str:
        message = message or "no message"
        if kind is ModelNotFoundError:
            return f"model {model!r} is not loaded on Triton at {self.url}: {message}"
        if kind is ConnectError:
            return f"cannot reach Triton at {self.url} ({self.protocol}): is the server running? ({message})"
        if kind is OverloadedError:
            return f"Triton at {self.url} is overloaded, retry later: {message}"
        return message


def _triton_dtype(dtype: np.dtype[Any]) -> str:
    from tritonclient.utils import np_to_triton_dtype

    return str(np_to_triton_dtype(dtype))
