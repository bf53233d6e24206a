"""The closed-loop generator: concurrency, windows, error accounting and probes, on a fake client."""

from __future__ import annotations

import threading
import time

import pytest

from encoder_triton.bench.loadgen import latency_summary, run_closed_loop
from encoder_triton.bench.probes import ClientCpuProbe
from encoder_triton.bench.workload import Workload
from encoder_triton.client import OverloadedError


class FakeClient:
    """Answers in 5 ms; every fifth request is shed as overloaded. Tracks requests in flight."""

    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    def embed(self, texts: list[str], *, model: str) -> None:
        with FakeClient.lock:
            FakeClient.in_flight += 1
            FakeClient.peak = max(FakeClient.peak, FakeClient.in_flight)
        try:
            self.calls += 1
            time.sleep(0.005)
            if self.calls % 5 == 0:
                raise OverloadedError("queue full")
        finally:
            with FakeClient.lock:
                FakeClient.in_flight -= 1

    def close(self) -> None:
        self.closed = True


def test_closed_loop_keeps_concurrency_in_flight_and_files_windows() -> None:
    clients: list[FakeClient] = []

    def connect() -> FakeClient:
        clients.append(FakeClient())
        return clients[-1]

    workload = Workload("embed", model="m", batch_size=2, texts=[f"t{i}" for i in range(50)])
    ticks: list[float] = []
    result = run_closed_loop(
        connect,
        workload,
        concurrency=4,
        warmup_s=0.2,
        window_s=0.4,
        repeats=2,
        probes=[ClientCpuProbe()],
        on_tick=ticks.append,
    )
    assert len(clients) == 4 and all(c.closed for c in clients)
    assert FakeClient.peak == 4
    assert len(result.windows) == 2
    for window in result.windows:
        assert window.requests > 10
        assert window.texts == 2 * window.requests
        assert set(window.errors) == {"OverloadedError"}
        assert 0.1 < window.error_rate < 0.3
        assert window.latency_ms["p50"] >= 5.0
    assert result.probes["client_cpu"]["cpu_s"] >= 0
    assert ticks and ticks[-1] >= 1.0


def test_bad_arguments_are_refused() -> None:
    workload = Workload("embed", model="m", batch_size=1, texts=["a"])
    with pytest.raises(ValueError):
        run_closed_loop(FakeClient, workload, concurrency=0, warmup_s=0, window_s=1, repeats=1)


def test_latency_summary() -> None:
    assert latency_summary([]) == {"p50": 0.0, "p90": 0.0, "p99": 0.0, "mean": 0.0, "max": 0.0}
    summary = latency_summary([0.001] * 99 + [0.1])
    assert summary["p50"] == 1.0 and summary["max"] == 100.0
