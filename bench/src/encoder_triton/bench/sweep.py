"""The benchmark sweep: baseline, then every serving variant x batch size x concurrency.

    1. the in-process baseline (`baseline`), while no server runs, on the same texts
    2. for each server variant (instance count x max_queue_delay x ORT threads x spinning;
       only when the sweep starts the embedded Triton itself from a repository), a fresh
       server on loopback
    3. for each request batch size and client concurrency: warm-up, then `repeats` windows
       of closed-loop load (`loadgen`), with the CPU and Triton statistics probes
    4. optionally the seed scenario (`scenario`) on the first variant
    5. the baseline again at its best batch size: efficiency is taken against the faster of
       the two, and if the machine's speed moved in between (other load), the report says
       its efficiency figures are unreliable
    6. medians over the windows, and efficiency = served texts/s / in-process texts/s

The result is a plain dict (the JSON report); `report` turns it into Markdown and plots.

Example:
    >>> plan = SweepPlan(concurrency=(1, 8), batch_sizes=(1,), window_s=3, repeats=2)
    >>> report = run_sweep(plan, model="minilm", repo=Path("model_repository"))  # doctest: +SKIP
    >>> report["summary"]["efficiency"]  # doctest: +SKIP
    0.93
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import os
import platform
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_triton.bench.baseline import DEFAULT_BATCH_SIZES
from encoder_triton.bench.loadgen import LoadResult, run_closed_loop
from encoder_triton.bench.probes import ClientCpuProbe, ProcessTreeCpuProbe, TritonStatsProbe
from encoder_triton.bench.variants import ServerVariant, make_variant, read_serving_config
from encoder_triton.bench.workload import build_workload

REPORT_SCHEMA = "encoder-triton-bench/sweep/1"

#: Beyond this relative change of the baseline between start and end, the report warns.
BASELINE_DRIFT_LIMIT = 0.15

#: Called with (seconds of planned work done, seconds planned, what runs now).
ProgressCallback = Callable[[float, float, str], None]


@dataclass(frozen=True)
class SweepPlan:
    """What to measure and for how long. Every value is bounded: a sweep always ends."""

    concurrency: tuple[int, ...] = (1, 8, 32, 64)
    batch_sizes: tuple[int, ...] = (1,)
    instances: tuple[int | None, ...] = (None,)
    max_queue_delay_us: tuple[int | None, ...] = (None,)
    intra_op_threads: tuple[int | None, ...] = (None,)
    spinning: tuple[bool | None, ...] = (None,)
    warmup_s: float = 3.0
    window_s: float = 5.0
    repeats: int = 3
    protocol: str = "grpc"
    task: str = "embed"
    corpus: str = "lee"
    seed: int = 0
    baseline: bool = True
    baseline_batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    baseline_window_s: float = 3.0
    baseline_check: bool = True
    scenario: bool = False
    scenario_repeats: int = 3

    CHECK_MEASUREMENTS = 2  # the baseline check: best batch size, spinning on and off

    def __post_init__(self) -> None:
        if not self.concurrency or min(self.concurrency) < 1:
            raise ValueError("concurrency needs values >= 1")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("batch sizes need values >= 1")
        if self.repeats < 1 or self.window_s <= 0 or self.warmup_s < 0:
            raise ValueError("need repeats >= 1, window_s > 0 and warmup_s >= 0")
        if self.protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be grpc or http, got {self.protocol!r}")

    @property
    def variants(self) -> list[ServerVariant]:
        return [
            ServerVariant(i, d, t, s)
            for i in self.instances
            for d in self.max_queue_delay_us
            for t in self.intra_op_threads
            for s in self.spinning
        ]

    def estimate_s(self) -> dict[str, float]:
        """Planned seconds per phase (for the progress bar; server start-up not included)."""
        per_point = self.warmup_s + self.repeats * self.window_s
        points = len(self.variants) * len(self.batch_sizes) * len(self.concurrency)
        # Each batch size, the best one again without spinning; the check: the best, both ways.
        baseline_sizes = len(self.baseline_batch_sizes) + 1 + (self.CHECK_MEASUREMENTS if self.baseline_check else 0)
        return {
            "baseline": (baseline_sizes * self.repeats * self.baseline_window_s) if self.baseline else 0,
            "load": points * per_point,
        }


def run_sweep(
    plan: SweepPlan,
    *,
    model: str,
    repo: Path | None = None,
    url: str | None = None,
    server_pid: int | None = None,
    progress: ProgressCallback | None = None,
    server_log: Any = None,
) -> dict[str, Any]:
    """Run `plan` against `url` (a running server) or an embedded Triton started from `repo`.

    With `url`, only one server variant can be measured (the server is not ours to
    reconfigure) and the baseline needs `repo` to find the model files; without `repo` the
    report has no efficiency. `server_pid` lets the CPU probe watch a server we did not start.
    """
    if url is None and repo is None:
        raise ValueError("give a repository to serve (repo) or the address of a running server (url)")
    if url is not None and any(not v.is_default for v in plan.variants):
        raise ValueError("instance and queue-delay sweeps need the sweep to start the server: pass repo, not url")
    started_at = datetime.datetime.now(datetime.timezone.utc)
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "created": started_at.isoformat(timespec="seconds"),
        "model": model,
        "task": plan.task,
        "protocol": plan.protocol,
        "server": url or "embedded Triton (nvidia-pytriton) on 127.0.0.1",
        "plan": _plan_dict(plan),
        "machine": machine_info(),
        "notes": [],
    }
    workloads = {
        b: build_workload(plan.task, model=model, batch_size=b, corpus=plan.corpus, seed=plan.seed)
        for b in plan.batch_sizes
    }
    pool = next(iter(workloads.values()))
    report["workload"] = {k: v for k, v in pool.describe().items() if k != "batch_size"}
    if repo is not None:
        report["serving_config"] = read_serving_config(repo, model)

    estimate = plan.estimate_s()
    total = sum(estimate.values())
    clock = {"done": 0.0}  # seconds of planned work done, for the progress bar

    def show(done: float, description: str) -> None:
        if progress is not None:
            progress(min(done, total), total, description)

    def on_batch(seconds: float) -> None:
        clock["done"] += seconds
        show(clock["done"], "in-process ONNX Runtime baseline")

    baseline_tps: float | None = None
    if plan.baseline and repo is not None and plan.task != "rerank":
        from encoder_triton.bench.baseline import run_baseline

        baseline = run_baseline(
            repo,
            model,
            pool.texts,
            batch_sizes=plan.baseline_batch_sizes,
            window_s=plan.baseline_window_s,
            repeats=plan.repeats,
            on_tick=on_batch,
        )
        report["baseline"] = baseline.to_dict()
        baseline_tps = baseline.texts_per_s
    elif plan.baseline:
        report["notes"].append(
            "no in-process baseline: it needs the model repository (--repo)"
            if repo is None
            else f"no in-process baseline for the {plan.task} task yet"
        )
    # The baseline check runs at the end: the load points start after the first part.
    checked_at_end = plan.baseline and plan.baseline_check
    check_s = plan.CHECK_MEASUREMENTS * plan.repeats * plan.baseline_window_s
    clock["done"] = estimate["baseline"] - (check_s if checked_at_end else 0)

    points: list[dict[str, Any]] = []
    per_point = plan.warmup_s + plan.repeats * plan.window_s
    for variant in plan.variants:
        with serve_variant(repo, model, variant, url, plan.protocol, server_log) as (address, pid):
            pid = pid or server_pid
            for batch_size in plan.batch_sizes:
                for concurrency in plan.concurrency:
                    description = f"{variant.label}, batch {batch_size}, concurrency {concurrency}"
                    start = clock["done"]
                    result = run_closed_loop(
                        connector(address, plan.protocol),
                        workloads[batch_size],
                        concurrency=concurrency,
                        warmup_s=plan.warmup_s,
                        window_s=plan.window_s,
                        repeats=plan.repeats,
                        probes=_probes(address, plan.protocol, model, pid),
                        on_tick=functools.partial(_tick, show, start, description),
                    )
                    clock["done"] = start + per_point
                    points.append(point_dict(variant, batch_size, result, baseline_tps))
            if plan.scenario and "scenario" not in report and plan.task == "embed":
                show(clock["done"], "seed scenario: 120 texts of ~350 words")
                report["scenario"] = _scenario(address, plan, model, repo)
    if baseline_tps is not None and plan.baseline_check and repo is not None:
        report["baseline"]["check_after"] = _baseline_check(repo, model, pool.texts, plan, report["baseline"], on_batch)
        check = report["baseline"]["check_after"]
        drift = check["drift"]
        if check["texts_per_s"] > baseline_tps:
            # Conservative: efficiency against the faster of the two measurements, so a slow
            # moment of the baseline can never flatter the server.
            baseline_tps = check["texts_per_s"]
            report["baseline"]["efficiency_against_texts_per_s"] = baseline_tps
            rebase(points, baseline_tps)
            report["notes"].append(
                f"efficiency is computed against the faster baseline measurement ({baseline_tps:.1f} texts/s, "
                "at the end of the run)"
            )
        if abs(drift) > BASELINE_DRIFT_LIMIT:
            report["notes"].append(
                f"the in-process baseline moved {drift:+.0%} between the start and the end of the run: the "
                "machine's speed changed (other load?), so the efficiency figures are unreliable; rerun on a "
                "quiet machine"
            )
    report["points"] = points
    report["summary"] = summarize(points, baseline_tps)
    report["machine"]["loadavg_end"] = _loadavg()
    report["duration_s"] = round((datetime.datetime.now(datetime.timezone.utc) - started_at).total_seconds(), 1)
    return report


def point_dict(
    variant: ServerVariant, batch_size: int, result: LoadResult, baseline_tps: float | None
) -> dict[str, Any]:
    """One sweep point: medians over its windows, the raw windows and the probes."""
    medians = result.medians()
    texts_per_s, requests, errors = medians["texts_per_s"], medians["requests"], medians["errors"]
    failed = sum(errors.values())
    return {
        "variant": variant.label,
        "instances": variant.instances,
        "max_queue_delay_us": variant.max_queue_delay_us,
        "intra_op_threads": variant.intra_op_threads,
        "spinning": variant.spinning,
        "batch_size": batch_size,
        "concurrency": result.concurrency,
        "texts_per_s": round(texts_per_s, 2),
        "requests_per_s": round(medians["requests_per_s"], 2),
        "latency_ms": {key: round(value, 2) for key, value in medians["latency_ms"].items()},
        "requests": requests,
        "errors": errors,
        "error_rate": round(failed / (requests + failed), 5) if requests + failed else 0.0,
        "efficiency": round(texts_per_s / baseline_tps, 3) if baseline_tps else None,
        "probes": result.probes,
        "windows": [w.to_dict() for w in result.windows],
    }


def rebase(points: Sequence[dict[str, Any]], baseline_tps: float) -> None:
    """Recompute every point's efficiency against another baseline (in place)."""
    for point in points:
        point["efficiency"] = round(point["texts_per_s"] / baseline_tps, 3)


def summarize(points: Sequence[dict[str, Any]], baseline_tps: float | None) -> dict[str, Any]:
    """The headline: the best served point (saturation) and its efficiency."""
    if not points:
        return {}
    best = max(points, key=lambda p: p["texts_per_s"])
    return {
        "best_texts_per_s": best["texts_per_s"],
        "best_point": {k: best[k] for k in ("variant", "batch_size", "concurrency")},
        "best_latency_ms": best["latency_ms"],
        "baseline_texts_per_s": round(baseline_tps, 2) if baseline_tps else None,
        "efficiency": best["efficiency"],
        "measured_anything": any(p["texts_per_s"] > 0 for p in points),
    }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "loadavg_start": _loadavg(),
    }
    for package in ("onnxruntime", "nvidia-pytriton", "tritonclient", "encoder-triton"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            info[package] = version(package)
    return info


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _loadavg() -> list[float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return [round(x, 2) for x in os.getloadavg()]
    return None


def _plan_dict(plan: SweepPlan) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(plan).items()}


def connector(address: str, protocol: str) -> Callable[[], Any]:
    from encoder_triton.client import EncoderClient

    return lambda: EncoderClient(address, protocol=protocol)  # type: ignore[arg-type]


def _probes(address: str, protocol: str, model: str, pid: int | None) -> list[Any]:
    probes: list[Any] = [ClientCpuProbe(), TritonStatsProbe(address, protocol, prefix=model)]
    if pid is not None:
        probes.append(ProcessTreeCpuProbe(pid))
    return probes


@contextlib.contextmanager
def serve_variant(
    repo: Path | None, model: str, variant: ServerVariant, url: str | None, protocol: str, log: Any
) -> Iterator[tuple[str, int | None]]:
    """(address, server pid) of the server to measure: `url`, or an embedded Triton we start."""
    if url is not None:
        yield url, None
        return
    assert repo is not None
    from encoder_triton.server.embedded import EmbeddedTriton

    with tempfile.TemporaryDirectory(prefix="encoder-triton-bench-") as tmp:
        served = repo if variant.is_default else make_variant(repo, model, variant, Path(tmp) / "repo")
        with EmbeddedTriton(served, log=log) as server:
            assert server.endpoints is not None
            endpoints = server.endpoints
            yield (endpoints.grpc if protocol == "grpc" else endpoints.http), server.pid


def _baseline_check(
    repo: Path, model: str, texts: Sequence[str], plan: SweepPlan, baseline: dict[str, Any], on_tick: Any
) -> dict[str, Any]:
    """The baseline's best batch size measured again, after the served points."""
    from encoder_triton.bench.baseline import run_baseline

    again = run_baseline(
        repo,
        model,
        texts,
        batch_sizes=(baseline["best_batch_size"],),
        window_s=plan.baseline_window_s,
        repeats=plan.repeats,
        on_tick=on_tick,
    )
    return {
        "batch_size": baseline["best_batch_size"],
        "texts_per_s": round(again.texts_per_s, 2),
        "drift": round(again.texts_per_s / baseline["texts_per_s"] - 1, 3),
    }


def _scenario(address: str, plan: SweepPlan, model: str, repo: Path | None) -> dict[str, Any]:
    from encoder_triton.bench.scenario import run_scenario, scenario_texts

    in_process = []
    if repo is not None:
        from encoder_triton.bench.baseline import InProcessModel

        in_process = [InProcessModel.load(repo, model, allow_spinning=spin) for spin in (True, False)]
    return run_scenario(
        connector(address, plan.protocol),
        model,
        scenario_texts(),
        repeats=plan.scenario_repeats,
        in_process=in_process,
    )


def _tick(show: Any, start: float, what: str, elapsed: float) -> None:
    """Progress callback of one point: where the whole sweep stands."""
    show(start + elapsed, what)
