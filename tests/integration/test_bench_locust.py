"""The locust users, headless and bounded, against the embedded Triton on loopback.

locust runs in a child process (importing it monkey-patches with gevent), through the
`encoder-triton-bench locust` wrapper, whose exit code is locust's: the threshold listener
sets it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.triton


def _locust(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "encoder_triton.bench.cli", "locust", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_embed_users_fire_requests_and_pass_loose_thresholds(minilm_server: Any, tmp_path: Path, protocol: str) -> None:
    url = minilm_server.endpoints.grpc if protocol == "grpc" else minilm_server.endpoints.http
    stats = tmp_path / "stats.json"
    run = _locust(
        "--task",
        "embed",
        "--host",
        f"{protocol}://{url}",
        "--users",
        "4",
        "--run-time",
        "20s",
        "--batch-size",
        "2",
        "--max-requests",
        "40",
        "--max-error-rate",
        "0.0",
        "--max-p99-ms",
        "60000",
        "--",
        "--json-file",
        str(stats.with_suffix("")),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "thresholds hold" in run.stderr
    (entry,) = [e for e in json.loads(stats.read_text()) if e["name"].startswith("embed")]
    assert entry["method"] == protocol and entry["name"] == "embed minilm b=2"
    assert entry["num_requests"] >= 40 and entry["num_failures"] == 0
    assert entry["total_content_length"] == 2 * entry["num_requests"]  # texts, not bytes


def test_a_broken_threshold_sets_exit_code_one(minilm_server: Any) -> None:
    run = _locust(
        "--task",
        "embed",
        "--host",
        f"grpc://{minilm_server.endpoints.grpc}",
        "--users",
        "2",
        "--run-time",
        "20s",
        "--max-requests",
        "10",
        "--max-p99-ms",
        "0.001",
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "threshold broken: p99 latency" in run.stderr


@pytest.mark.parametrize(("task", "model"), [("classify", "bbc_news"), ("rerank", "reranker")])
def test_classify_and_rerank_users_fire_requests(
    minilm_tasks_server: Any, tmp_path: Path, task: str, model: str
) -> None:
    stats = tmp_path / "stats.json"
    run = _locust(
        "--task",
        task,
        "--model",
        model,
        "--host",
        f"grpc://{minilm_tasks_server.endpoints.grpc}",
        "--users",
        "2",
        "--run-time",
        "20s",
        "--batch-size",
        "4",
        "--max-requests",
        "10",
        "--max-error-rate",
        "0.0",
        "--",
        "--json-file",
        str(stats.with_suffix("")),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (entry,) = [e for e in json.loads(stats.read_text()) if e["name"].startswith(task)]
    assert entry["name"] == f"{task} {model} b=4"
    assert entry["num_requests"] >= 10 and entry["num_failures"] == 0


def test_gateway_users_send_json_through_the_gateway(minilm_server: Any, start_gateway: Any, tmp_path: Path) -> None:
    gateway = start_gateway(triton_url=minilm_server.endpoints.grpc, access_log=False)
    stats = tmp_path / "stats.json"
    run = _locust(
        "--via",
        "gateway",
        "--host",
        gateway.url,
        "--users",
        "4",
        "--run-time",
        "15s",
        "--batch-size",
        "2",
        "--max-requests",
        "30",
        "--max-error-rate",
        "0.0",
        "--",
        "--json-file",
        str(stats.with_suffix("")),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (entry,) = [e for e in json.loads(stats.read_text()) if e["name"].startswith("gateway")]
    assert entry["method"] == "POST" and entry["name"] == "gateway embed minilm b=2"
    assert entry["num_requests"] >= 30 and entry["num_failures"] == 0


def test_an_overload_through_the_gateway_passes_when_only_shed_statuses_fail(
    minilm_server: Any, start_gateway: Any, tmp_path: Path
) -> None:
    """One request in flight at a time for 8 users: most are shed with 429, none fails otherwise."""
    gateway = start_gateway(triton_url=minilm_server.endpoints.grpc, max_in_flight=1, access_log=False)
    common = ["--via", "gateway", "--host", gateway.url, "--users", "8", "--run-time", "8s", "--max-error-rate", "0.0"]
    shed = _locust(*common, "--", "--shed-statuses", "429,503")
    assert shed.returncode == 0, shed.stdout + shed.stderr
    counted = re.search(r"thresholds hold: (\d+) requests, (\d+) failed \((\d+) of them shed\)", shed.stderr)
    assert counted is not None, shed.stderr
    requests, failed, refused = (int(g) for g in counted.groups())
    assert refused > 0 and failed == refused and requests > failed
    strict = _locust(*common)  # without --shed-statuses a 429 is an error
    assert strict.returncode == 1 and "threshold broken: error rate" in strict.stderr
