"""What a benchmark reads beside latency: CPU of both sides, and Triton's own statistics.

A probe takes a snapshot when a measurement opens and when it closes, and summarises the
difference. Three of them explain a throughput number:

    ClientCpuProbe       CPU this process (the load generator) burnt: on a small machine
                         that is CPU the server did not get
    ProcessTreeCpuProbe  CPU of tritonserver and its python-backend stubs
    TritonStatsProbe     per model: rows per execution (how well the dynamic batcher
                         batched), queue and compute time per request, and how busy each
                         model's instances were (compute time / wall time)

Example:
    >>> probe = TritonStatsProbe("127.0.0.1:8001", "grpc", prefix="minilm")  # doctest: +SKIP
    >>> before = probe.snapshot(); ...; after = probe.snapshot()  # doctest: +SKIP
    >>> probe.summarize(before, after, wall_s=10.0)["minilm_encoder"]["rows_per_execution"]  # doctest: +SKIP
    7.9
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol


class Probe(Protocol):
    name: str

    def snapshot(self) -> Any: ...

    def summarize(self, before: Any, after: Any, wall_s: float) -> dict[str, Any]: ...


class ClientCpuProbe:
    """CPU seconds of this process, all threads (user + system)."""

    name = "client_cpu"

    def snapshot(self) -> float:
        return time.process_time()

    def summarize(self, before: float, after: float, wall_s: float) -> dict[str, Any]:
        used = after - before
        return {"cpu_s": round(used, 3), "cores": round(used / wall_s, 3) if wall_s > 0 else 0.0}


class ProcessTreeCpuProbe:
    """CPU seconds of a process and all its descendants (tritonserver and its stubs)."""

    name = "server_cpu"

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def snapshot(self) -> dict[int, float]:
        import psutil

        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return {}
        out = {}
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            out[process.pid] = times.user + times.system
        return out

    def summarize(self, before: dict[int, float], after: dict[int, float], wall_s: float) -> dict[str, Any]:
        used = sum(t - before.get(pid, 0.0) for pid, t in after.items())
        return {"cpu_s": round(used, 3), "cores": round(used / wall_s, 3) if wall_s > 0 else 0.0}


def machine_cores() -> int:
    return os.cpu_count() or 1


_PHASES = ("queue", "compute_input", "compute_infer", "compute_output")


class TritonStatsProbe:
    """Triton's inference statistics for every model whose name starts with `prefix`."""

    name = "triton"

    def __init__(self, url: str, protocol: str, *, prefix: str) -> None:
        self.url = url
        self.protocol = protocol
        self.prefix = prefix

    def snapshot(self) -> dict[str, dict[str, Any]]:
        if self.protocol == "grpc":
            import tritonclient.grpc as triton

            client: Any = triton.InferenceServerClient(self.url)
            try:
                raw = client.get_inference_statistics("", as_json=True)
            finally:
                client.close()
        else:
            import tritonclient.http as triton

            client = triton.InferenceServerClient(self.url)
            try:
                raw = client.get_inference_statistics("")
            finally:
                client.close()
        return {m["name"]: _counters(m) for m in raw.get("model_stats", []) if m["name"].startswith(self.prefix)}

    def summarize(
        self, before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], wall_s: float
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for model, now in sorted(after.items()):
            then = before.get(model, {})
            delta = {k: v - then.get(k, 0) for k, v in now.items()}
            requests = delta["success_count"]
            executions = delta["execution_count"]
            summary: dict[str, Any] = {
                "requests": requests,
                "rows": delta["inference_count"],
                "executions": executions,
                "rows_per_execution": round(delta["inference_count"] / executions, 2) if executions else 0.0,
            }
            for phase in _PHASES:
                summary[f"{phase}_ms_per_request"] = (
                    round(delta[f"{phase}_ns"] / requests / 1e6, 3) if requests else 0.0
                )
            busy_ns = delta["batch_compute_ns"]
            summary["compute_ms_per_execution"] = round(busy_ns / executions / 1e6, 3) if executions else 0.0
            # Busy: the fraction of wall time some instance of the model was executing.
            # Above 1.0 means several instances ran in parallel.
            summary["busy"] = round(busy_ns / 1e9 / wall_s, 3) if wall_s > 0 else 0.0
            out[model] = summary
        return out


def _counters(model: dict[str, Any]) -> dict[str, int]:
    stats = model.get("inference_stats", {})
    counters = {
        "inference_count": int(model.get("inference_count", 0) or 0),
        "execution_count": int(model.get("execution_count", 0) or 0),
        "success_count": int(stats.get("success", {}).get("count", 0) or 0),
    }
    for phase in _PHASES:
        counters[f"{phase}_ns"] = int(stats.get(phase, {}).get("ns", 0) or 0)
    # batch_stats are per execution (one entry per batch size): their compute time sums to
    # the time instances were busy, which inference_stats (per request) over-count.
    counters["batch_compute_ns"] = sum(
        int(entry.get(phase, {}).get("ns", 0) or 0)
        for entry in model.get("batch_stats", [])
        for phase in ("compute_input", "compute_infer", "compute_output")
    )
    return counters
