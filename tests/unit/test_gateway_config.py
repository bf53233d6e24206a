"""Settings from flags, ENCODER_TRITON_* variables and .env; the local engine's batch queue."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from encoder_triton.cli import app
from encoder_triton.cli._settings import ServeSettings
from encoder_triton.client._transports._batch_queue import BatchQueue
from encoder_triton.gateway.settings import GatewaySettings


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own and no ENCODER_TRITON_* variable from the outside."""
    for name in list(os.environ):
        if name.startswith("ENCODER_TRITON_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_models_style_environment_variables(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCODER_TRITON_MODELS", "minilm, bbc_news")
    monkeypatch.setenv("ENCODER_TRITON_ENGINE", "local")
    monkeypatch.setenv("ENCODER_TRITON_GATEWAY_PORT", "9090")
    settings = ServeSettings()
    assert settings.models == ("minilm", "bbc_news")
    assert settings.engine == "local" and settings.gateway_port == 9090
    monkeypatch.setenv("ENCODER_TRITON_API_KEYS", "k1,k2")
    monkeypatch.setenv("ENCODER_TRITON_MAX_INPUTS", "16")
    gateway = GatewaySettings()
    assert gateway.api_keys == frozenset({"k1", "k2"}) and gateway.max_inputs == 16


def test_precedence_is_flag_then_environment_then_dotenv_then_default(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / ".env").write_text("ENCODER_TRITON_PORT=7000\nENCODER_TRITON_TRITON_URL=dotenv:8001\n")
    assert GatewaySettings().port == 7000  # .env over the default
    assert GatewaySettings().protocol == "grpc"  # the default
    monkeypatch.setenv("ENCODER_TRITON_PORT", "7001")
    assert GatewaySettings().port == 7001  # the environment over .env
    assert GatewaySettings().triton_url == "dotenv:8001"
    assert GatewaySettings(port=7002).port == 7002  # a flag over everything


def test_a_bad_value_names_the_setting(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCODER_TRITON_ENGINE", "docker")
    with pytest.raises(ValueError, match="engine"):
        GatewaySettings()


def test_the_serve_command_reads_dotenv_and_its_flags_win(workdir: Path) -> None:
    """`serve` with a .env naming a repository that does not exist fails on that repository;
    the same flag on the command line wins over it."""
    (workdir / ".env").write_text("ENCODER_TRITON_ENGINE=local\nENCODER_TRITON_REPO=from_dotenv\n")
    from_dotenv = CliRunner().invoke(app, ["serve"])
    assert from_dotenv.exit_code != 0 and "from_dotenv does not exist" in from_dotenv.output
    flagged = CliRunner().invoke(app, ["serve", "--repo", "from_flag"])
    assert flagged.exit_code != 0 and "from_flag does not exist" in flagged.output


def test_the_batch_queue_merges_concurrent_requests_and_fails_only_the_bad_one() -> None:
    calls: list[list[Any]] = []

    def run(items: list[Any]) -> list[Any]:
        calls.append(items)
        return [ValueError(f"bad {item}") if item == "bad" else item.upper() for item in items]

    async def main() -> list[Any]:
        queue: BatchQueue[str] = BatchQueue(run, rows=lambda item: 1, window_s=0.05, max_rows=64)
        return await asyncio.gather(*(queue.submit(t) for t in ["a", "bad", "c"]), return_exceptions=True)

    results = asyncio.run(main())
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad bad"
    assert calls == [["a", "bad", "c"]]  # one call for all three


def test_the_batch_queue_caps_a_batch_at_max_rows() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        calls.append(items)
        return items

    async def main() -> list[int]:
        queue: BatchQueue[int] = BatchQueue(run, rows=lambda item: item, window_s=0.05, max_rows=4)
        return list(await asyncio.gather(*(queue.submit(n) for n in [2, 2, 3, 1])))

    assert asyncio.run(main()) == [2, 2, 3, 1]
    assert calls == [[2, 2], [3, 1]]
