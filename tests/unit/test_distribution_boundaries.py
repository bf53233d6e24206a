"""What core may import of the bench, and the command the bench adds to core.

encoder-triton-bench depends on encoder-triton, so core must never import bench: `tune` reaches
the core CLI through an entry point instead. Scanned statically, function-level imports included.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "src" / "encoder_triton"


def _imported_modules(tree: ast.AST) -> list[str]:
    """Every module a file imports: statements anywhere, and import_module / __import__ strings."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(node.args[0].value)
    return found


def test_the_scan_sees_every_kind_of_import() -> None:
    source = (
        "import encoder_triton.bench.tuner\n"
        "def f():\n"
        "    from encoder_triton import bench\n"
        "    importlib.import_module('encoder_triton.bench.cli')\n"
    )
    bench = [m for m in _imported_modules(ast.parse(source)) if m.startswith("encoder_triton.bench")]
    assert bench == ["encoder_triton.bench.tuner", "encoder_triton.bench", "encoder_triton.bench.cli"]


def test_no_core_module_imports_the_bench() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 50
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in files
        for module in _imported_modules(ast.parse(path.read_text(), str(path)))
        if module == "encoder_triton.bench" or module.startswith("encoder_triton.bench.")
    ]
    assert offenders == [], "core imports the bench distribution (a dependency cycle)"


def test_bench_contributes_tune_through_its_entry_point() -> None:
    from encoder_triton.bench import tune_command
    from encoder_triton.cli import app
    from encoder_triton.cli._contributed import contributed_commands

    assert contributed_commands()["tune"] is tune_command.tune
    result = CliRunner().invoke(app, ["tune", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--p99-ms" in result.output


def _cli_without_bench(*args: str) -> subprocess.CompletedProcess[str]:
    # None in sys.modules makes a package unimportable, as if encoder-triton-bench were absent.
    script = (
        "import sys\n"
        "sys.modules['encoder_triton.bench'] = None\n"
        "from encoder_triton.cli import main\n"
        f"sys.argv = ['encoder-triton', *{list(args)!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)


def test_without_the_bench_tune_answers_with_the_install_hint() -> None:
    run = _cli_without_bench("tune", "model_repository/minilm", "--p99-ms", "250")
    assert run.returncode == 1
    assert run.stderr == (
        "error: encoder-triton tune needs the encoder-triton-bench package: pip install encoder-triton-bench\n"
    )
    listed = _cli_without_bench("--help")
    assert listed.returncode == 0 and "tune" in listed.stdout


def test_the_tune_entry_point_loads_light() -> None:
    # The core CLI imports it at every start: no numpy, client, locust or plotting.
    code = (
        "import sys, encoder_triton.bench.tune_command\n"
        "heavy = {'numpy', 'tritonclient', 'locust', 'matplotlib', 'psutil'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m == 'encoder_triton.client'))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "[]"
