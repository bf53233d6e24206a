"""Transports over Triton: tritonclient's gRPC and HTTP clients, sync and asyncio.

A transport sends one request and returns its answer; the clients split inputs, run chunks
concurrently and retry. Every tritonclient, socket, gevent and aiohttp error leaves a transport
through `ErrorMap` (see `_errors.py`).

tritonclient's sync HTTP client runs on gevent and is not safe across OS threads, so the sync
HTTP transport gives each thread its own tritonclient client (one connection each); one gRPC
client is shared by every thread.

Example:
    >>> transport = TritonTransport("127.0.0.1:8001", protocol="grpc")  # doctest: +SKIP
    >>> transport.infer("minilm", {"TEXT": rows}, ["EMBEDDING"])["EMBEDDING"].shape  # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from encoder_triton.client._transports._errors import ErrorMap, ProtocolName


def _check_protocol(protocol: str) -> None:
    if protocol not in ("grpc", "http"):
        raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")


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
    """tritonclient's sync HTTP or gRPC client; safe to use from several threads."""

    def __init__(
        self,
        url: str,
        *,
        protocol: ProtocolName = "grpc",
        timeout: float = 60.0,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        _check_protocol(protocol)
        self.url, self.protocol, self.timeout, self.ssl = url, protocol, timeout, ssl
        self.headers = dict(headers or {})
        self._errors = ErrorMap(url, protocol, timeout)
        if protocol == "grpc":
            import tritonclient.grpc as triton
        else:
            import tritonclient.http as triton
        self._module: Any = triton
        self._shared: Any = triton.InferenceServerClient(url, ssl=ssl) if protocol == "grpc" else None
        self._per_thread = threading.local()
        self._http_clients: list[Any] = []  # every thread's, to close them all
        self._lock = threading.Lock()

    def _client(self) -> Any:
        """The gRPC client, or this thread's own HTTP client (made on its first request)."""
        if self._shared is not None:
            return self._shared
        client = getattr(self._per_thread, "client", None)
        if client is None:
            client = self._module.InferenceServerClient(
                self.url, ssl=self.ssl, connection_timeout=self.timeout, network_timeout=self.timeout
            )
            self._per_thread.client = client
            with self._lock:
                self._http_clients.append(client)
        return client

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
        with self._lock:
            clients, self._http_clients = self._http_clients, []
        for client in clients:
            client.close()

    def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        client = self._client()
        infer_inputs = _infer_inputs(self._module, inputs)
        requested = [self._module.InferRequestedOutput(name) for name in outputs]
        extra = {"parameters": dict(parameters)} if parameters else {}
        with self._errors.mapping(model, live=self._live):
            if self.protocol == "grpc":
                result = client.infer(
                    model, infer_inputs, outputs=requested, client_timeout=self.timeout, headers=self.headers, **extra
                )
            else:  # the HTTP client's network_timeout bounds the call
                result = client.infer(model, infer_inputs, outputs=requested, headers=self.headers, **extra)
        return {name: result.as_numpy(name) for name in outputs}

    def is_ready(self) -> bool:
        with self._errors.mapping(None, live=self._live):
            return bool(self._client().is_server_ready(headers=self.headers))

    def model_config(self, model: str) -> dict[str, Any]:
        with self._errors.mapping(model, live=self._live):
            if self.protocol == "grpc":
                return dict(self._client().get_model_config(model, headers=self.headers, as_json=True)["config"])
            return dict(self._client().get_model_config(model, headers=self.headers))

    def model_names(self) -> list[str]:
        return _names_from_statistics(self.statistics())

    def statistics(self) -> dict[str, Any]:
        with self._errors.mapping(None, live=self._live):
            if self.protocol == "grpc":
                return dict(self._client().get_inference_statistics(headers=self.headers, as_json=True))
            return dict(self._client().get_inference_statistics(headers=self.headers))

    def _live(self) -> bool:
        return bool(self._client().is_server_live(headers=self.headers))


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
        _check_protocol(protocol)
        self.url, self.protocol, self.timeout = url, protocol, timeout
        self.headers = dict(headers or {})
        self._errors = ErrorMap(url, protocol, timeout)
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

    async def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        infer_inputs = _infer_inputs(self._module, inputs)
        requested = [self._module.InferRequestedOutput(name) for name in outputs]
        extra = {"parameters": dict(parameters)} if parameters else {}
        async with self._errors.async_mapping(model, live=self._live):
            call = self._client.infer(model, infer_inputs, outputs=requested, headers=self.headers, **extra)
            # asyncio enforces the deadline for both protocols (aiohttp has no per-call timeout).
            result = await asyncio.wait_for(call, self.timeout)
        return {name: result.as_numpy(name) for name in outputs}

    async def is_ready(self) -> bool:
        async with self._errors.async_mapping(None, live=self._live):
            return bool(await self._client.is_server_ready(headers=self.headers))

    async def model_config(self, model: str) -> dict[str, Any]:
        async with self._errors.async_mapping(model, live=self._live):
            if self.protocol == "grpc":
                return dict((await self._client.get_model_config(model, headers=self.headers, as_json=True))["config"])
            return dict(await self._client.get_model_config(model, headers=self.headers))

    async def model_names(self) -> list[str]:
        return _names_from_statistics(await self.statistics())

    async def statistics(self) -> dict[str, Any]:
        async with self._errors.async_mapping(None, live=self._live):
            if self.protocol == "grpc":
                return dict(await self._client.get_inference_statistics(headers=self.headers, as_json=True))
            return dict(await self._client.get_inference_statistics(headers=self.headers))

    async def _live(self) -> bool:
        return bool(await self._client.is_server_live(headers=self.headers))
