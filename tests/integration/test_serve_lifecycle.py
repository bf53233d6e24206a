"""`encoder-triton serve` as users run it: start, report, Ctrl-C, leave nothing behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from encoder_triton.server.embedded import EmbeddedTriton, EmbeddedTritonError, free_port

pytestmark = pytest.mark.triton

CLI = [sys.executable, "-m", "encoder_triton.cli"]


def _children(pid: int) -> list[int]:
    """All descendants of `pid`, from /proc (so a leaked stub would show up)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 120) -> str:
    """serve's output up to the line containing `marker` (what a user waits for)."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError(f"serve never printed {marker!r}:\n{''.join(lines)}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_stops_cleanly_on_signal(minilm_repo: Path, sig: signal.Signals) -> None:
    http, grpc, metrics = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--repo",
            str(minilm_repo),
            "--quiet",
            "--http-port",
            str(http),
            "--grpc-port",
            str(grpc),
            "--metrics-port",
            str(metrics),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_until(process, "Ctrl-C stops it.")
        stubs = [p for p in _children(process.pid) if p != process.pid]
        assert len(stubs) >= 3, "expected tritonserver and two stubs"
        process.send_signal(sig)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert f"gRPC     127.0.0.1:{grpc}" in banner
    # One line per public model: name, state, task, shape (its components fold into it).
    assert re.search(r"^  minilm +READY +embed +dim 384 ", banner, flags=re.M), banner
    assert process.returncode == 0, output
    leftovers = [p for p in stubs if Path(f"/proc/{p}").exists()]
    assert leftovers == [], "stub or server processes outlived serve"
    assert list(Path("/dev/shm").glob(f"et{process.pid}x*")) == []


def test_a_model_that_fails_to_load_reports_tritons_reason(minilm_repo: Path, tmp_path: Path) -> None:
    broken = tmp_path / "repo"
    shutil.copytree(minilm_repo, broken)
    (broken / "minilm_encoder" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    server = EmbeddedTriton(broken, startup_timeout_s=120)
    with pytest.raises(EmbeddedTritonError) as info:
        server.start()
    message = str(info.value)
    assert "minilm_encoder: UNAVAILABLE" in message
    assert server.pid is None


def test_export_cli_help_is_the_docstring() -> None:
    out = subprocess.run(
        [*CLI, "export", "--help"], capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert "validate it against PyTorch" in out.stdout
    assert "--max-batch-size" in out.stdout


def test_admin_apis_need_the_key_and_inference_does_not(minilm_server: EmbeddedTriton) -> None:
    import urllib.error
    import urllib.request

    assert minilm_server.endpoints is not None
    url = f"http://{minilm_server.endpoints.http}/v2/repository/index"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=5)
    assert info.value.code == 403
    load = f"http://{minilm_server.endpoints.http}/v2/repository/models/minilm/load"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(urllib.request.Request(load, data=b"{}", method="POST"), timeout=5)
    assert minilm_server.model_states()["minilm"]["state"] == "READY"  # the launcher holds the key
    with urllib.request.urlopen(f"http://{minilm_server.endpoints.http}/v2/models/minilm/ready", timeout=5) as ok:
        assert ok.status == 200
