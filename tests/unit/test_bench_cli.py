"""The `encoder-triton-bench` CLI: help texts, argument checks, and documented commands that parse."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from encoder_triton.bench import cli, locust_users_path

ROOT = Path(__file__).resolve().parents[2]


def _documented_commands() -> list[str]:
    """Every `encoder-triton-bench ...` command line in the bench README and module docstrings."""
    sources = [ROOT / "bench" / "README.md", *sorted((ROOT / "bench" / "src").rglob("*.py"))]
    commands = []
    for source in sources:
        text = source.read_text().replace("\\\n", " ")
        commands += [m.group(1) for m in re.finditer(r"encoder-triton-bench (\w[^\n`]*)", text)]
    return commands


def test_every_documented_command_uses_real_options() -> None:
    group = typer.main.get_command(cli.app)
    documented = _documented_commands()
    assert len(documented) >= 6
    for line in documented:
        name, *rest = line.split()
        command = group.commands.get(name)  # type: ignore[attr-defined]
        assert command is not None, f"documented command {name!r} does not exist: {line}"
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for flag in re.findall(r"(?<!\S)(--[\w-]+)", " ".join(rest).split(" -- ")[0]):
            assert flag in known, f"{flag} is not an option of `{name}`: {line}"


@pytest.mark.parametrize("command", ["sweep", "scenario", "locust"])
def test_help(command: str) -> None:
    result = CliRunner().invoke(cli.app, [command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_bad_lists_and_missing_targets_are_clear_errors() -> None:
    runner = CliRunner()
    result = runner.invoke(cli.app, ["sweep", "--concurrency", "1,x"])
    assert result.exit_code != 0 and "comma-separated integers" in result.output
    result = runner.invoke(cli.app, ["sweep", "--no-baseline"])
    assert result.exit_code == 1 and "give a repository to serve" in result.output
    result = runner.invoke(cli.app, ["sweep", "--url", "127.0.0.1:1", "--instances", "1,2"])
    assert result.exit_code == 1 and "need the sweep to start the server" in result.output
    result = runner.invoke(cli.app, ["locust", "--task", "translate"])
    assert result.exit_code == 2 and "--task must be one of" in result.output


def test_importing_the_cli_pulls_in_no_heavy_module() -> None:
    # locust monkey-patches with gevent on import; plots, ORT and the server load on demand.
    code = (
        "import sys, encoder_triton.bench.cli, encoder_triton.bench.sweep, encoder_triton.bench.report; "
        "print(sorted(m for m in ('locust', 'gevent', 'matplotlib', 'onnxruntime', 'tokenizers', 'torch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert locust_users_path().is_file()
