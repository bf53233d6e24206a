"""A lean closed-loop load generator: N threads, each with its own client, back to back.

Why threads and not locust here: the sweep needs an exact number of requests in flight
(closed loop), as little CPU as possible (on a 2-core machine every cycle the generator burns
is taken from the server it measures; the gRPC client releases the GIL while it waits, so a
thread per in-flight request costs little), and no gevent monkey-patching of the process that
also runs the in-process baseline. Locust (`locust_users`) is for open-ended load tests of a
deployment; this is for measurements. Its own CPU use is measured (`probes.ClientCpuProbe`)
and printed in every report.

One run is continuous: a warm-up, then `repeats` back-to-back windows. Each request is
recorded with its completion time and filed into the window it completed in, so windows have
no ramp-up or drain gaps between them.

Example:
    >>> result = run_closed_loop(lambda: EncoderClient(url), workload, concurrency=8,
    ...                          warmup_s=2, window_s=5, repeats=3)  # doctest: +SKIP
    >>> result.windows[0].texts_per_s > 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from encoder_triton.bench.probes import Probe
from encoder_triton.bench.workload import Workload

#: Seconds a worker pauses after a failed request, so that a dead server is not hammered
#: in a tight loop that would only measure how fast errors come back.
ERROR_BACKOFF_S = 0.01


@dataclass(frozen=True)
class WindowStats:
    """What completed inside one measurement window."""

    duration_s: float
    requests: int
    texts: int
    errors: dict[str, int]
    latency_ms: dict[str, float]

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        total = self.requests + self.error_count
        return self.error_count / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "texts": self.texts,
            "texts_per_s": round(self.texts_per_s, 2),
            "requests_per_s": round(self.requests_per_s, 2),
            "latency_ms": self.latency_ms,
            "errors": dict(self.errors),
            "error_rate": round(self.error_rate, 5),
        }


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    windows: list[WindowStats]
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def medians(self) -> dict[str, Any]:
        """Texts/s, requests/s and latency percentiles (ms) as medians over the windows,
        unrounded; requests and errors (by type) summed."""
        windows = self.windows
        errors: dict[str, int] = {}
        for window in windows:
            for kind, count in window.errors.items():
                errors[kind] = errors.get(kind, 0) + count
        return {
            "texts_per_s": statistics.median(w.texts_per_s for w in windows),
            "requests_per_s": statistics.median(w.requests_per_s for w in windows),
            "latency_ms": {
                key: statistics.median(w.latency_ms[key] for w in windows)
                for key in ("p50", "p90", "p99", "mean", "max")
            },
            "requests": sum(w.requests for w in windows),
            "errors": errors,
        }


def latency_summary(latencies_s: Sequence[float] | np.ndarray) -> dict[str, float]:
    """p50 / p90 / p99 / mean / max in milliseconds (zeros when nothing completed)."""
    if len(latencies_s) == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "mean": 0.0, "max": 0.0}
    ms = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "p50": round(float(p50), 2),
        "p90": round(float(p90), 2),
        "p99": round(float(p99), 2),
        "mean": round(float(ms.mean()), 2),
        "max": round(float(ms.max()), 2),
    }


def run_closed_loop(
    connect: Callable[[], Any],
    workload: Workload,
    *,
    concurrency: int,
    warmup_s: float,
    window_s: float,
    repeats: int,
    probes: Sequence[Probe] = (),
    on_tick: Callable[[float], None] | None = None,
) -> LoadResult:
    """Keep `concurrency` requests in flight for warm-up + repeats x window seconds.

    `connect()` makes one client per worker (created before the clock starts). Probes are
    read when the first window opens and when the last closes. `on_tick(seconds_elapsed)` is
    called from this thread about five times a second (a progress bar).
    """
    if concurrency < 1 or repeats < 1 or window_s <= 0 or warmup_s < 0:
        raise ValueError("need concurrency >= 1, repeats >= 1, window_s > 0 and warmup_s >= 0")
    clients = [connect() for _ in range(concurrency)]
    workload.check_client(clients[0])
    records: list[tuple[float, float, int, str | None]] = []  # (end, latency, texts, error type)
    go, stop = threading.Event(), threading.Event()
    stride = max(1, len(workload.texts) // concurrency)

    def worker(index: int) -> None:
        client, cursor = clients[index], index * stride
        go.wait()
        while not stop.is_set():
            started = time.perf_counter()
            try:
                texts = workload.call(client, cursor)
                error = None
            except Exception as exc:  # noqa: BLE001 - every failure is counted by type, none stops the run
                texts, error = 0, type(exc).__name__
            ended = time.perf_counter()
            records.append((ended, ended - started, texts, error))  # list.append is atomic
            cursor += workload.batch_size
            if error is not None:
                time.sleep(ERROR_BACKOFF_S)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        begin = time.perf_counter()
        go.set()
        first = begin + warmup_s
        last = first + repeats * window_s
        _sleep_until(first, begin, on_tick)
        before = {p.name: p.snapshot() for p in probes}
        _sleep_until(last, begin, on_tick)
        after = {p.name: p.snapshot() for p in probes}
        measured = time.perf_counter() - first
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        for client in clients:
            client.close()
    windows = _file_into_windows(records, first, window_s, repeats)
    summaries = {p.name: p.summarize(before[p.name], after[p.name], measured) for p in probes}
    return LoadResult(concurrency=concurrency, windows=windows, probes=summaries)


def _sleep_until(deadline: float, begin: float, on_tick: Callable[[float], None] | None) -> None:
    while (now := time.perf_counter()) < deadline:
        time.sleep(min(0.2, deadline - now))
        if on_tick is not None:
            on_tick(time.perf_counter() - begin)


def _file_into_windows(
    records: list[tuple[float, float, int, str | None]], first: float, window_s: float, repeats: int
) -> list[WindowStats]:
    windows = []
    rows = list(records)
    for k in range(repeats):
        lo, hi = first + k * window_s, first + (k + 1) * window_s
        inside = [r for r in rows if lo <= r[0] < hi]
        ok = [r for r in inside if r[3] is None]
        errors: dict[str, int] = {}
        for r in inside:
            if r[3] is not None:
                errors[r[3]] = errors.get(r[3], 0) + 1
        windows.append(
            WindowStats(
                duration_s=window_s,
                requests=len(ok),
                texts=sum(r[2] for r in ok),
                errors=errors,
                latency_ms=latency_summary([r[1] for r in ok]),
            )
        )
    return windows
