"""A missing extra reads as an install hint, not a ModuleNotFoundError from deep inside.

The extra is made unimportable for real (`sys.modules[name] = None`, what Python itself does
for a blocked import).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import tomllib

from encoder_triton.errors import EncoderTritonError, MissingExtraError
from encoder_triton.extras import EXTRAS, missing_modules, require_extra

ROOT = Path(__file__).resolve().parents[2]


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
