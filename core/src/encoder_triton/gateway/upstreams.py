"""Several Tritons behind one gateway: failover, ejection, and probing back in.

`UpstreamPool` is an `AsyncTransport` (what `AsyncEncoderClient` calls) over one transport per
Triton address, so the routes and the client stay as they are. Every upstream is assumed to
serve the same repository.

    up        takes traffic, round robin; probed every `probe_interval_s`
    down      ejected: takes no traffic while another upstream is up; probed on a fresh
              connection every `probe_interval_s` until it answers ready, then admitted again

An upstream is ejected when a request to it fails with `ConnectError`, when a request times out
while connecting (HTTP: Triton never saw it), and when a probe (`/v2/health/ready`, bounded by
`probe_timeout_s`) fails or answers not ready. One failed request is retried on the next
upstream (each upstream at most once per request) when Triton cannot have done the work:
`ConnectError`, a timeout before the request was sent, and `OverloadedError` (a full queue
rejects at once). Anything else is the answer: bad input, an unknown model, a server error, and
a timeout after the request was sent (over gRPC every timeout counts as sent: the transport
cannot tell). While every upstream is down, requests are still tried on each (Envoy's "panic"
routing), so the first Triton back answers at once and a success admits it.

Example:
    >>> pool = UpstreamPool.triton(["triton-a:8001", "triton-b:8001"], protocol="grpc")  # doctest: +SKIP
    >>> await pool.start()  # doctest: +SKIP
    >>> client = AsyncEncoderClient(transport=pool)  # doctest: +SKIP
    >>> [(s.address, s.up) for s in pool.snapshot()]  # doctest: +SKIP
    [('triton-a:8001', True), ('triton-b:8001', False)]
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard, TypeVar

import numpy as np

from encoder_triton.client import ConnectError, EncoderError, OverloadedError, RequestTimeoutError
from encoder_triton.client._transports import AsyncTransport

T = TypeVar("T")
#: Makes the transport of one address (a fresh connection each call).
Connect = Callable[[str], AsyncTransport]
#: What a failed request does to its upstream: eject it and retry elsewhere, or only retry.
Failover = Literal["eject", "retry"]

_log = logging.getLogger("encoder_triton.gateway.upstreams")


def failover_for(error: EncoderError) -> Failover | None:
    """How the pool treats `error` from one upstream; None: it is the request's answer."""
    if isinstance(error, ConnectError):
        return "eject"
    if isinstance(error, RequestTimeoutError) and never_sent(error):
        return "eject"
    if isinstance(error, OverloadedError):
        return "retry"
    return None


def never_sent(error: BaseException) -> bool:
    """True when the timeout behind `error` struck while connecting (aiohttp, Triton over HTTP)."""
    try:
        from aiohttp import ConnectionTimeoutError
    except ImportError:  # pragma: no cover - aiohttp comes with tritonclient[http]
        return False
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ConnectionTimeoutError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


@dataclass(frozen=True)
class UpstreamStatus:
    """One upstream as the gateway sees it now (for /readyz and /metrics)."""

    address: str
    up: bool
    since_s: float  # seconds in this state
    ejections: int  # times it was ejected
    failovers: int  # requests that failed here and went on to another upstream
    in_flight: int  # requests on it now
    last_error: str  # why it was last ejected or failed a probe ("" when never)


@dataclass(eq=False)
class _Connection:
    """One transport and the calls on it: a replaced one is closed once its last call ends."""

    transport: AsyncTransport
    in_flight: int = 0
    retired: bool = False


@dataclass(eq=False)
class _Upstream:
    address: str
    connection: _Connection
    up: bool = True
    changed: float = field(default_factory=time.monotonic)
    ejections: int = 0
    failovers: int = 0
    in_flight: int = 0
    last_error: str = ""


class UpstreamPool:
    """An `AsyncTransport` over several Tritons that fails over and heals (see the module doc)."""

    def __init__(
        self,
        addresses: Sequence[str],
        connect: Connect,
        *,
        probe_interval_s: float = 2.0,
        probe_timeout_s: float = 2.0,
    ) -> None:
        if not addresses:
            raise ValueError("an upstream pool needs at least one address")
        duplicates = sorted({a for a in addresses if list(addresses).count(a) > 1})
        if duplicates:
            raise ValueError(f"upstream addresses repeat: {', '.join(duplicates)}")
        self._connect = connect
        self._upstreams = [_Upstream(address, _Connection(connect(address))) for address in addresses]
        self.probe_interval_s = probe_interval_s
        self.probe_timeout_s = probe_timeout_s
        self._turn = 0
        self._prober: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @classmethod
    def triton(
        cls,
        addresses: Sequence[str],
        *,
        protocol: Literal["grpc", "http"] = "grpc",
        timeout_s: float = 60.0,
        probe_interval_s: float = 2.0,
        probe_timeout_s: float = 2.0,
    ) -> UpstreamPool:
        """A pool of tritonclient asyncio transports (gRPC or HTTP)."""
        from encoder_triton.client._transports import AsyncTritonTransport

        def connect(address: str) -> AsyncTransport:
            return AsyncTritonTransport(address, protocol=protocol, timeout=timeout_s)

        return cls(addresses, connect, probe_interval_s=probe_interval_s, probe_timeout_s=probe_timeout_s)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Probe every upstream once (so readiness is true from the start), then keep probing."""
        await self.probe_all()
        self._prober = asyncio.create_task(self._probe_forever(), name="encoder-triton upstream prober")

    def probing(self) -> bool:
        """True while the background prober runs (the gateway's liveness)."""
        return self._prober is not None and not self._prober.done()

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            await asyncio.gather(self._prober, return_exceptions=True)
        for upstream in self._upstreams:
            self._retire(upstream.connection, now=True)
        await asyncio.gather(*self._closing, return_exceptions=True)

    # -- AsyncTransport ----------------------------------------------------------------------
    async def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        return await self._call(lambda t: t.infer(model, inputs, outputs, parameters))

    async def model_config(self, model: str) -> dict[str, Any]:
        return await self._call(lambda t: t.model_config(model))

    async def model_names(self) -> list[str]:
        return await self._call(lambda t: t.model_names())

    async def statistics(self) -> dict[str, Any]:
        """Every up upstream's counters, summed per model (Triton's statistics API shape)."""
        ups = [u for u in self._upstreams if u.up]
        answers = await asyncio.gather(*(self._on(u, lambda t: t.statistics()) for u in ups), return_exceptions=True)
        found = [a for a in answers if isinstance(a, dict)]
        if not found:
            return await self._call(lambda t: t.statistics())  # fails over, or raises the reason
        return merge_statistics(found)

    async def is_ready(self) -> bool:
        """Ready while at least one upstream is up."""
        return any(u.up for u in self._upstreams)

    # -- state -------------------------------------------------------------------------------
    def snapshot(self) -> list[UpstreamStatus]:
        now = time.monotonic()
        return [
            UpstreamStatus(
                address=u.address,
                up=u.up,
                since_s=now - u.changed,
                ejections=u.ejections,
                failovers=u.failovers,
                in_flight=u.in_flight,
                last_error=u.last_error,
            )
            for u in self._upstreams
        ]

    async def probe_all(self) -> None:
        await asyncio.gather(*(self._probe(u) for u in self._upstreams))

    # -- internals ---------------------------------------------------------------------------
    def _candidates(self) -> list[_Upstream]:
        """Up upstreams, round robin; every upstream when none is up (panic routing)."""
        pool = [u for u in self._upstreams if u.up] or list(self._upstreams)
        start = self._turn % len(pool)
        self._turn += 1
        return pool[start:] + pool[:start]

    async def _call(self, call: Callable[[AsyncTransport], Awaitable[T]]) -> T:
        candidates = self._candidates()
        failures: list[EncoderError] = []
        for index, upstream in enumerate(candidates):
            connection = upstream.connection
            upstream.in_flight += 1
            try:
                result = await self._on_connection(connection, call)
            except EncoderError as exc:
                action = failover_for(exc)
                if action is None:
                    raise
                if action == "eject":
                    self._eject(upstream, connection, str(exc))
                failures.append(exc)
                if index + 1 < len(candidates):
                    upstream.failovers += 1
                continue
            finally:
                upstream.in_flight -= 1
            if not upstream.up:
                self._admit(upstream, "it answered a request")
            return result
        last = failures[-1]
        if len(failures) == 1:
            raise last
        raise type(last)("; ".join(str(f) for f in failures)) from last

    async def _on(self, upstream: _Upstream, call: Callable[[AsyncTransport], Awaitable[T]]) -> T:
        return await self._on_connection(upstream.connection, call)

    async def _on_connection(self, connection: _Connection, call: Callable[[AsyncTransport], Awaitable[T]]) -> T:
        connection.in_flight += 1
        try:
            return await call(connection.transport)
        finally:
            connection.in_flight -= 1
            if connection.retired and connection.in_flight == 0:
                self._close_soon(connection)

    async def _probe(self, upstream: _Upstream) -> None:
        connection = upstream.connection
        reason = ""
        try:
            ready = await asyncio.wait_for(
                self._on_connection(connection, lambda t: t.is_ready()), self.probe_timeout_s
            )
            if not ready:
                reason = "its health probe answered not ready"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a probe means "down"
            ready, reason = False, f"its health probe failed: {exc or type(exc).__name__}"
        if upstream.connection is not connection:
            return  # replaced while the probe ran: the next round probes the new one
        if ready and not upstream.up:
            self._admit(upstream, "its health probe answered ready")
        elif not ready and upstream.up:
            self._eject(upstream, connection, reason)
        elif not ready:
            upstream.last_error = reason
            # A fresh connection for the next probe: gRPC's reconnect backoff grows to minutes.
            self._reconnect(upstream)

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self.probe_interval_s)
            await self.probe_all()

    def _eject(self, upstream: _Upstream, connection: _Connection, reason: str) -> None:
        if not upstream.up or upstream.connection is not connection:
            return  # another request or probe got there first
        upstream.up = False
        upstream.changed = time.monotonic()
        upstream.ejections += 1
        upstream.last_error = reason
        _log.warning("upstream %s ejected: %s", upstream.address, reason)
        self._reconnect(upstream)

    def _admit(self, upstream: _Upstream, why: str) -> None:
        down_s = time.monotonic() - upstream.changed
        upstream.up = True
        upstream.changed = time.monotonic()
        _log.warning("upstream %s is back after %.1f s: %s", upstream.address, down_s, why)

    def _reconnect(self, upstream: _Upstream) -> None:
        old, upstream.connection = upstream.connection, _Connection(self._connect(upstream.address))
        self._retire(old)

    def _retire(self, connection: _Connection, *, now: bool = False) -> None:
        connection.retired = True
        if now or connection.in_flight == 0:
            self._close_soon(connection)

    def _close_soon(self, connection: _Connection) -> None:
        async def close() -> None:
            try:
                await connection.transport.close()
            except Exception as exc:  # noqa: BLE001 - closing a dead connection may fail; nothing to do
                _log.debug("closing a connection failed: %s", exc)

        task = asyncio.ensure_future(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def merge_statistics(answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several Tritons' statistics as one: counts and durations summed per model and version,
    `last_inference` the latest, anything else (batch_stats) from the first answer."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for answer in answers:
        for model in answer.get("model_stats", []):
            key = (str(model.get("name", "")), str(model.get("version", "")))
            if key in merged:
                _add_counts(merged[key], model)
            else:
                merged[key] = copy.deepcopy(dict(model))
    return {"model_stats": list(merged.values())}


def _add_counts(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        mine = into.get(key)
        if isinstance(mine, dict) and isinstance(value, Mapping):
            _add_counts(mine, value)
        elif key in ("name", "version") or not (_is_number(mine) and _is_number(value)):
            continue
        else:
            total = max(int(mine), int(value)) if key == "last_inference" else int(mine) + int(value)
            into[key] = str(total) if isinstance(mine, str) else total  # gRPC's JSON writes int64 as strings


def _is_number(value: Any) -> TypeGuard[int | str]:
    return isinstance(value, int) or (isinstance(value, str) and value.isdigit())
