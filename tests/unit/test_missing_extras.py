"""A missing extra reads as an install hint, not a ModuleNotFoundError from deep inside.

The extra is made unimportable for real (`sys.modules[name] = None`, what Python itself does
for a blocked import), in a fresh interpreter for the CLI and in-process for the library.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from encoder_triton.errors import EncoderTritonError, MissingExtraError
from encoder_triton.extras import EXTRAS, missing_modules, require_extra

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], blocked: list[str]) -> subprocess.CompletedProcess[str]:
    script = (
        "import sys\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None\n"
        "from encoder_triton.cli import main\n"
        f"sys.argv = ['encoder-triton', *{args!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(
    ("args", "blocked", "hint"),
    [
        (["export", "some/model"], "onnx", "encoder-triton export needs the 'export' extra"),
        (["export", "some/model"], "torch", "encoder-triton export needs the 'export' extra"),
        (["serve", "--repo", "model_repository"], "pytriton", "encoder-triton serve needs the 'serve' extra"),
        (["serve", "--gateway"], "fastapi", "encoder-triton serve --gateway needs the 'gateway' extra"),
        (["gateway"], "uvicorn", "encoder-triton gateway needs the 'gateway' extra"),
    ],
)
def test_the_cli_names_the_extra_and_the_pip_command(
    args: list[str], blocked: str, hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from encoder_triton.cli import app

    monkeypatch.setitem(sys.modules, blocked, None)
    result = CliRunner().invoke(app, args)
    extra = re.search(r"the '(\w+)' extra", hint)
    assert extra is not None
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"error: {hint}: pip install 'encoder-triton[{extra.group(1)}]'"


def test_a_fresh_interpreter_without_any_extra_starts_and_gives_the_hint() -> None:
    blocked = [module for modules in EXTRAS.values() for module in modules]
    run = _cli(["export", "--help"], blocked)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    run = _cli(["export", "some/model"], blocked)
    assert run.returncode == 1
    assert run.stderr == "error: encoder-triton export needs the 'export' extra: pip install 'encoder-triton[export]'\n"


def test_export_model_raises_the_hint_before_any_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from encoder_triton.export.pipeline import export_model

    monkeypatch.setitem(sys.modules, "optimum.exporters.onnx", None)  # as without optimum-onnx
    with pytest.raises(MissingExtraError) as caught:
        export_model("some/model", repo=tmp_path / "repo")
    error = caught.value
    assert (error.extra, error.missing) == ("export", ("optimum.exporters.onnx",))
    assert isinstance(error, EncoderTritonError) and isinstance(error, ImportError)
    assert str(error) == "export_model needs the 'export' extra: pip install 'encoder-triton[export]'"
    assert not (tmp_path / "repo").exists()


def test_the_embedded_triton_raises_the_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from encoder_triton.server.embedded import EmbeddedTriton

    monkeypatch.setitem(sys.modules, "pytriton", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'encoder-triton\[serve\]'"):
        EmbeddedTriton(tmp_path).start()


def test_every_extra_is_installed_here() -> None:
    # The development install has all of them (Makefile); otherwise the tests above prove little.
    for extra in EXTRAS:
        assert missing_modules(extra) == [], extra
        require_extra(extra, needed_by="this test")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_extras_table_matches_pyproject() -> None:
    declared = tomllib.loads((ROOT / "core" / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) == set(declared)
    for extra, requirements in declared.items():
        assert {d.replace("_", "-") for d in EXTRAS[extra].values()} == {_name(r) for r in requirements}, extra
