"""The gateway's upstream pool over the shipped mock transport: failover, ejection, probing back in.

Each address is a `FakeTriton` whose state (up, down, overloaded, failing) the test sets; the
pool connects to it afresh whenever it reconnects, as it does to a real Triton. The real
failover against killed Tritons is tests/integration/test_gateway_faults.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import pytest

from encoder_triton.client import (
    AsyncEncoderClient,
    AsyncMockTransport,
    ConnectError,
    EncoderError,
    InvalidInputError,
    OverloadedError,
    RequestTimeoutError,
    ServerError,
)
from encoder_triton.gateway.upstreams import UpstreamPool, failover_for, merge_statistics, never_sent

T = TypeVar("T")
CONFIG = AsyncMockTransport.ensemble_config("minilm", task="embed", max_batch_size=8, dimension=2)


class FakeTriton:
    """One address: what its connections answer, and how many were made and closed."""

    def __init__(self, address: str, value: float) -> None:
        self.address = address
        self.value = value  # every embedding it answers is filled with this: who answered shows
        self.failure: EncoderError | None = None  # raised by every call while set
        self.ready = True
        self.requests = 0  # calls that reached it: configs and inferences
        self.connections: list[AsyncMockTransport] = []
        self.gate: asyncio.Event | None = None  # inference waits on it while set

    def connect(self) -> AsyncMockTransport:
        async def handler(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
            self.requests += 1
            if self.gate is not None:
                await self.gate.wait()
            if self.failure is not None:
                raise self.failure
            return {"EMBEDDING": np.full((len(inputs["TEXT"]), 2), self.value, dtype=np.float32)}

        transport = _Connection(self, handler)
        self.connections.append(transport)
        return transport


class _Connection(AsyncMockTransport):
    """A mock connection that fails every call, probes included, while its server fails."""

    def __init__(self, server: FakeTriton, handler: Any) -> None:
        super().__init__(handler, [CONFIG])
        self.server = server

    async def is_ready(self) -> bool:
        if isinstance(self.server.failure, ConnectError):
            raise self.server.failure
        return self.server.ready

    async def model_config(self, model: str) -> dict[str, Any]:
        self.server.requests += 1
        if isinstance(self.server.failure, ConnectError):
            raise self.server.failure
        return await super().model_config(model)


def run(main: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(main())  # type: ignore[arg-type]


def make_pool(*values: float, probe_interval_s: float = 3600.0) -> tuple[UpstreamPool, dict[str, FakeTriton]]:
    servers = {f"triton-{i}:8001": FakeTriton(f"triton-{i}:8001", v) for i, v in enumerate(values)}
    pool = UpstreamPool(
        list(servers), lambda a: servers[a].connect(), probe_interval_s=probe_interval_s, probe_timeout_s=1.0
    )
    return pool, servers


_clients: dict[int, AsyncEncoderClient] = {}


async def embed(pool: UpstreamPool, text: str = "hello") -> float:
    """One text through a client over `pool` (one client per pool: it reads the config once)."""
    client = _clients.setdefault(id(pool), AsyncEncoderClient(transport=pool))
    return float((await client.embed([text], model="minilm")).vectors[0, 0])


def connect_error(address: str) -> ConnectError:
    return ConnectError(f"cannot reach Triton at {address} (grpc): is the server running?")


def test_requests_go_round_robin_over_the_up_upstreams() -> None:
    async def main() -> list[float]:
        pool, _ = make_pool(1.0, 2.0)
        await pool.start()
        try:
            return [await embed(pool) for _ in range(4)]
        finally:
            await pool.close()

    assert sorted(run(main)) == [1.0, 1.0, 2.0, 2.0]


def test_a_connect_error_ejects_the_upstream_and_retries_the_request_on_another() -> None:
    async def main() -> None:
        pool, servers = make_pool(1.0, 2.0)
        await pool.start()
        first = servers["triton-0:8001"]
        first.failure = connect_error(first.address)
        answers = [await embed(pool) for _ in range(6)]
        assert answers == [2.0] * 6  # every request answered, by the live one
        states = {s.address: s for s in pool.snapshot()}
        assert not states[first.address].up and states["triton-1:8001"].up
        assert states[first.address].ejections == 1
        assert states[first.address].failovers == 1  # one request failed there, then went on
        assert "is the server running" in states[first.address].last_error
        assert first.requests == 1  # ejected after its first failure: no more traffic
        assert len(first.connections) == 2  # a fresh connection for the probes
        assert await pool.is_ready()
        await pool.close()

    run(main)


def test_overloaded_is_retried_elsewhere_without_ejecting() -> None:
    async def main() -> None:
        pool, servers = make_pool(1.0, 2.0)
        await pool.start()
        servers["triton-0:8001"].failure = OverloadedError("queue full")
        answers = [await embed(pool) for _ in range(4)]
        assert answers == [2.0] * 4
        assert all(s.up for s in pool.snapshot())
        servers["triton-1:8001"].failure = OverloadedError("queue full too")
        with pytest.raises(OverloadedError, match="queue full"):  # every upstream shed it: 429
            await embed(pool)
        await pool.close()

    run(main)


@pytest.mark.parametrize(
    "error",
    [InvalidInputError("text 0 is empty"), ServerError("stub died"), RequestTimeoutError("no answer in 60 s")],
    ids=["invalid", "server", "timeout-after-send"],
)
def test_errors_triton_may_have_acted_on_are_not_retried(error: EncoderError) -> None:
    async def main() -> None:
        pool, servers = make_pool(1.0, 2.0)
        await pool.start()
        for server in servers.values():
            server.failure = error
        with pytest.raises(type(error)):
            await embed(pool)
        assert sum(s.requests for s in servers.values()) == 2  # its config, then one inference
        assert all(s.up for s in pool.snapshot())
        await pool.close()

    run(main)


def test_a_timeout_while_connecting_counts_as_never_sent() -> None:
    from aiohttp import ConnectionTimeoutError

    sent = RequestTimeoutError("Triton at a:8000 did not answer within 60 s")
    sent.__cause__ = TimeoutError()
    unsent = RequestTimeoutError("Triton at a:8000 did not answer within 60 s")
    unsent.__cause__ = ConnectionTimeoutError("connect timed out")
    assert not never_sent(sent) and failover_for(sent) is None
    assert never_sent(unsent) and failover_for(unsent) == "eject"
    assert failover_for(ConnectError("x")) == "eject" and failover_for(OverloadedError("x")) == "retry"


def test_probes_eject_a_not_ready_upstream_and_admit_it_when_ready() -> None:
    async def main() -> None:
        pool, servers = make_pool(1.0, 2.0, probe_interval_s=0.05)
        await pool.start()
        first = servers["triton-0:8001"]
        first.ready = False  # e.g. a model reloading: Triton says so on /v2/health/ready
        await asyncio.sleep(0.3)
        assert [s.up for s in pool.snapshot()] == [False, True]
        assert [await embed(pool) for _ in range(3)] == [2.0] * 3
        first.ready = True
        await asyncio.sleep(0.3)
        assert [s.up for s in pool.snapshot()] == [True, True]
        assert pool.probing()
        await pool.close()
        assert not pool.probing()

    run(main)


def test_a_down_upstream_is_probed_on_fresh_connections_and_the_old_ones_close() -> None:
    async def main() -> None:
        pool, servers = make_pool(1.0, probe_interval_s=0.05)
        await pool.start()
        only = servers["triton-0:8001"]
        only.failure = connect_error(only.address)
        await asyncio.sleep(0.3)
        assert not await pool.is_ready()
        made = len(only.connections)
        assert made >= 3  # one per failed probe: gRPC's reconnect backoff would grow to minutes
        await asyncio.sleep(0)
        assert all(c.closed for c in only.connections[:-1])
        only.failure = None
        await asyncio.sleep(0.3)
        assert await pool.is_ready()
        await pool.close()
        assert all(c.closed for c in only.connections)

    run(main)


def test_with_every_upstream_down_requests_still_try_each_and_a_success_admits_it() -> None:
    async def main() -> None:
        pool, servers = make_pool(1.0, 2.0)
        for server in servers.values():
            server.failure = connect_error(server.address)
        await pool.start()  # the first probe finds both down
        assert not await pool.is_ready()
        with pytest.raises(ConnectError) as caught:
            await embed(pool)
        assert "triton-0:8001" in str(caught.value) and "triton-1:8001" in str(caught.value)
        servers["triton-1:8001"].failure = None  # back, before the next probe
        assert await embed(pool) == 2.0
        assert await pool.is_ready()
        assert [s.up for s in pool.snapshot()] == [False, True]
        await pool.close()

    run(main)


def test_a_replaced_connection_closes_only_after_its_last_call() -> None:
    async def main() -> None:
        pool, servers = make_pool(1.0, probe_interval_s=0.05)
        await pool.start()
        server = servers["triton-0:8001"]
        server.gate = asyncio.Event()
        slow = asyncio.ensure_future(embed(pool))
        await asyncio.sleep(0.05)
        server.ready = False  # ejected by the next probe: its connection is replaced
        await asyncio.sleep(0.2)
        first = server.connections[0]
        assert not first.closed  # a request still runs on it
        server.gate.set()
        assert await slow == 1.0
        await asyncio.sleep(0)
        assert first.closed
        await pool.close()

    run(main)


def test_statistics_are_summed_over_the_up_upstreams() -> None:
    grpc_style = {"model_stats": [{"name": "m", "version": "1", "inference_count": "3", "last_inference": "100"}]}
    http_style = {"model_stats": [{"name": "m", "version": "1", "inference_count": 4, "last_inference": 250}]}
    other = {"model_stats": [{"name": "n", "version": "1", "inference_count": 1}]}
    nested = [
        {"model_stats": [{"name": "m", "version": "1", "inference_stats": {"success": {"count": "2", "ns": "10"}}}]},
        {"model_stats": [{"name": "m", "version": "1", "inference_stats": {"success": {"count": "5", "ns": "30"}}}]},
    ]
    merged = merge_statistics([grpc_style, http_style, other])["model_stats"]
    assert merged == [
        {"name": "m", "version": "1", "inference_count": "7", "last_inference": "250"},
        {"name": "n", "version": "1", "inference_count": 1},
    ]
    assert merge_statistics(nested)["model_stats"][0]["inference_stats"]["success"] == {"count": "7", "ns": "40"}

    async def main() -> dict[str, Any]:
        pool, _ = make_pool(1.0, 2.0)
        await pool.start()
        for _ in range(4):
            await embed(pool)
        try:
            return await pool.statistics()
        finally:
            await pool.close()

    (stats,) = run(main)["model_stats"]
    assert stats["name"] == "minilm" and stats["inference_count"] == 4  # 2 + 2, from both


def test_addresses_must_be_given_once() -> None:
    with pytest.raises(ValueError, match="at least one"):
        UpstreamPool([], lambda a: FakeTriton(a, 0).connect())
    with pytest.raises(ValueError, match="repeat: a:1"):
        UpstreamPool(["a:1", "b:1", "a:1"], lambda a: FakeTriton(a, 0).connect())
