"""Benchmark smoke tests on the embedded Triton: tiny, bounded sweeps and the seed scenario.

They check structure and that something was measured, never how fast: absolute speed is the
report's business, not a test's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from encoder_triton.bench.report import PNG_SIGNATURE, write_report
from encoder_triton.bench.sweep import REPORT_SCHEMA, SweepPlan, run_sweep

pytestmark = pytest.mark.triton


def _assert_valid_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"


def test_tiny_sweep_reports_throughput_latency_and_efficiency(
    minilm_server: Any, minilm_repo: Path, tmp_path: Path
) -> None:
    plan = SweepPlan(
        concurrency=(1, 4),
        batch_sizes=(1, 2),
        warmup_s=0.5,
        window_s=1.0,
        repeats=2,
        baseline_batch_sizes=(1, 8),
        baseline_window_s=0.5,
    )
    progress: list[tuple[float, float, str]] = []
    report = run_sweep(
        plan,
        model="minilm",
        repo=minilm_repo,
        url=minilm_server.endpoints.grpc,
        server_pid=minilm_server.pid,
        progress=lambda done, total, what: progress.append((done, total, what)),
    )

    assert report["schema"] == REPORT_SCHEMA
    for key in ("created", "model", "plan", "machine", "workload", "serving_config", "baseline", "points", "summary"):
        assert key in report, key
    assert [(p["batch_size"], p["concurrency"]) for p in report["points"]] == [(1, 1), (1, 4), (2, 1), (2, 4)]
    for point in report["points"]:
        assert point["texts_per_s"] > 0 and point["requests"] > 0
        assert point["error_rate"] == 0.0
        assert 0 < point["latency_ms"]["p50"] <= point["latency_ms"]["p99"]
        assert point["efficiency"] > 0
        assert len(point["windows"]) == 2
        encoder = point["probes"]["triton"]["minilm_encoder"]
        assert encoder["executions"] > 0 and encoder["rows_per_execution"] >= 1
        assert point["probes"]["server_cpu"]["cpu_s"] > 0
    assert report["baseline"]["texts_per_s"] > 0
    assert report["summary"]["measured_anything"] and report["summary"]["efficiency"] > 0
    assert progress and progress[-1][0] <= progress[-1][1]

    files = write_report(report, tmp_path / "report")
    assert json.loads(files["json"].read_text())["summary"] == report["summary"]
    _assert_valid_png(files["throughput"])
    _assert_valid_png(files["latency"])
    markdown = files["markdown"].read_text()
    assert "| variant | batch | concurrency | texts/s |" in markdown
    assert markdown.count("\n| as exported | ") >= 4


def test_cli_sweep_serves_a_variant_itself(minilm_repo: Path, tmp_path: Path) -> None:
    from encoder_triton.bench.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            "--repo",
            str(minilm_repo),
            "--model",
            "minilm",
            "--out",
            str(out),
            "--protocol",
            "http",
            "--concurrency",
            "2",
            "--instances",
            "2",
            "--max-queue-delay-us",
            "500",
            "--warmup",
            "0.3",
            "--window",
            "1",
            "--repeats",
            "1",
            "--no-baseline",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    (point,) = report["points"]
    assert point["variant"] == "instances=2 delay=500us" and point["texts_per_s"] > 0
    assert point["efficiency"] is None and "baseline" not in report
    _assert_valid_png(out / "throughput.png")
    assert (out / "report.md").read_text().count("| instances=2 delay=500us |") >= 1


def test_scenario_splits_a_call_above_max_batch_size(minilm_server: Any, minilm_repo: Path) -> None:
    from encoder_triton.bench.baseline import InProcessModel
    from encoder_triton.bench.scenario import run_scenario, scenario_texts
    from encoder_triton.client import EncoderClient

    texts = scenario_texts(70, 40)
    result = run_scenario(
        lambda: EncoderClient(minilm_server.endpoints.grpc),
        "minilm",
        texts,
        repeats=1,
        in_process=[InProcessModel.load(minilm_repo, "minilm")],
    )
    assert result["requests"] == [64, 6] and result["max_batch_size"] == 64
    assert result["how"].startswith("one client call, split by the client into 2 concurrent requests")
    assert result["median_s"] > 0 and result["in_process_median_s"] > 0 and result["efficiency"] > 0
