"""One error tree per distribution: every exception class lives in its errors module, under its root."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "src" / "encoder_triton"
BENCH = ROOT / "bench" / "src" / "encoder_triton" / "bench"


def _exception_classes(folder: Path) -> list[tuple[str, str]]:
    """(file, class) for every class under `folder` whose base looks like an exception."""
    exceptions = {
        name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
    }
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                if any(b in exceptions or b.endswith(("Error", "Exception")) for b in bases):
                    found.append((str(path.relative_to(folder)), node.name))
    return found


@pytest.mark.parametrize(
    ("folder", "home", "module", "root"),
    [
        (CORE, "errors.py", "encoder_triton.errors", "EncoderTritonError"),
        (BENCH, "errors.py", "encoder_triton.bench.errors", "BenchError"),
    ],
)
def test_each_distribution_has_one_error_tree(folder: Path, home: str, module: str, root: str) -> None:
    classes = _exception_classes(folder)
    assert len(classes) >= 3
    elsewhere = [f"{path}: {name}" for path, name in classes if path != home]
    assert elsewhere == [], f"exceptions defined outside {home}"
    errors = importlib.import_module(module)
    base = getattr(errors, root)
    for _, name in classes:
        assert issubclass(getattr(errors, name), base), name
        assert name in (errors.__doc__ or ""), f"{name} is missing from the tree in the docstring"
