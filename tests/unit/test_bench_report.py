"""Sweep reports: the JSON, the Markdown tables and valid PNG plots, from a synthetic sweep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from encoder_triton.bench.loadgen import LoadResult, WindowStats
from encoder_triton.bench.report import PNG_SIGNATURE, headline, write_report
from encoder_triton.bench.sweep import SweepPlan, point_dict, rebase, summarize
from encoder_triton.bench.variants import ServerVariant


def _window(tps: float, p50: float) -> WindowStats:
    latency = {"p50": p50, "p90": p50 * 1.5, "p99": p50 * 2, "mean": p50 * 1.1, "max": p50 * 3}
    return WindowStats(duration_s=2.0, requests=int(tps * 2), texts=int(tps * 2), errors={}, latency_ms=latency)


def synthetic_report() -> dict[str, Any]:
    points = []
    for concurrency, tps in ((1, 40.0), (8, 90.0), (32, 100.0)):
        triton = {
            "m_encoder": {
                "rows_per_execution": concurrency / 2,
                "queue_ms_per_request": 1.0,
                "compute_ms_per_execution": 20.0,
                "busy": 0.9,
            },
            "m_tokenizer": {
                "rows_per_execution": 1.0,
                "queue_ms_per_request": 0.5,
                "compute_ms_per_execution": 1.0,
                "busy": 0.05,
            },
        }
        result = LoadResult(
            concurrency,
            [_window(tps - 2, 10.0 * concurrency), _window(tps, 11.0 * concurrency), _window(tps + 3, 12.0)],
            probes={"client_cpu": {"cpu_s": 0.1, "cores": 0.02}, "triton": triton},
        )
        points.append(point_dict(ServerVariant(), 1, result, baseline_tps=110.0))
    return {
        "schema": "encoder-triton-bench/sweep/1",
        "model": "m",
        "task": "embed",
        "protocol": "grpc",
        "server": "test",
        "plan": {"warmup_s": 1, "repeats": 3, "window_s": 2},
        "machine": {"cores": 2, "cpu": "test", "loadavg_start": [0.5, 0.5, 0.5], "loadavg_end": [3.0, 1.0, 1.0]},
        "workload": {"corpus": "lee", "seed": 0, "words_per_text": {"p50": 30, "p90": 80, "p99": 150}},
        "baseline": {
            "kind": "in-process",
            "best_batch_size": 32,
            "texts_per_s": 110.0,
            "intra_op_threads": 0,
            "max_batch_tokens": 8192,
            "by_batch_size": [
                {"batch_size": 32, "texts_per_s": 110.0, "tokenize_share": 0.02, "real_token_share": 0.6}
            ],
        },
        "points": points,
        "summary": summarize(points, 110.0),
        "scenario": {
            "texts": 120,
            "words_per_text": {"p50": 350},
            "how": "split into 2 concurrent requests",
            "median_s": 3.0,
            "repeats_s": [3.0, 3.1, 2.9],
            "texts_per_s": 40.0,
            "in_process_median_s": 2.7,
            "efficiency": 0.9,
        },
        "notes": ["a note"],
    }


def test_points_take_medians_and_efficiency() -> None:
    point = synthetic_report()["points"][1]
    assert point["texts_per_s"] == 90.0
    assert point["latency_ms"]["p50"] == 80.0  # median of 80, 88, 12
    assert point["efficiency"] == round(90 / 110, 3)
    summary = synthetic_report()["summary"]
    assert summary["best_point"] == {"variant": "as exported", "batch_size": 1, "concurrency": 32}
    assert summary["efficiency"] == round(100 / 110, 3) and summary["measured_anything"]


def test_report_files_are_written_and_readable(tmp_path: Path) -> None:
    report = synthetic_report()
    files = write_report(report, tmp_path / "out")
    assert sorted(p.name for p in files.values()) == ["latency.png", "report.json", "report.md", "throughput.png"]
    assert json.loads(files["json"].read_text())["summary"] == report["summary"]
    for kind in ("throughput", "latency"):
        data = files[kind].read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    markdown = files["markdown"].read_text()
    assert markdown.startswith("# Benchmark: `m` (embed, grpc)")
    assert "| variant | batch | concurrency | texts/s |" in markdown
    assert "![throughput](throughput.png)" in markdown
    assert "Caveat" in markdown  # load average 3.0 on 2 cores
    assert "0.91x" in headline(report)
    assert "## Seed scenario" in markdown and "## Where the server's time went" in markdown


def test_a_report_without_points_or_baseline_still_renders(tmp_path: Path) -> None:
    report = {"model": "m", "machine": {}, "points": [], "summary": {}}
    files = write_report(report, tmp_path)
    assert "Nothing was measured." in files["markdown"].read_text()
    assert "throughput" not in files


def test_plan_estimate_is_bounded() -> None:
    plan = SweepPlan(concurrency=(1, 2), batch_sizes=(1, 4), warmup_s=1, window_s=2, repeats=3)
    assert plan.estimate_s()["load"] == 4 * (1 + 3 * 2)


def test_rebase_takes_efficiency_against_the_faster_baseline() -> None:
    points = synthetic_report()["points"]
    rebase(points, 200.0)
    assert [p["efficiency"] for p in points] == [0.2, 0.45, 0.5]
    assert summarize(points, 200.0)["baseline_texts_per_s"] == 200.0
