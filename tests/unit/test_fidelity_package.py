"""The fidelity package: its public names, and every example in its docstrings runs."""

import doctest
import importlib

import pytest

import encoder_triton.export.fidelity as fidelity

MODULES = ["__init__", "compare", "metrics", "reference", "report", "texts", "thresholds"]
#: reference.py's example needs a model folder and PyTorch: it is skipped in its docstring.
RUNNABLE = [module for module in MODULES if module != "reference"]


def test_all_is_sorted_and_names_every_public_export() -> None:
    assert fidelity.__all__ == sorted(fidelity.__all__, key=lambda name: (not name.isupper(), name[0].islower(), name))
    public = {name for name in vars(fidelity) if not name.startswith("_")} - set(MODULES)
    assert set(fidelity.__all__) == public


@pytest.mark.parametrize("module", RUNNABLE)
def test_docstring_examples_run(module: str) -> None:
    name = fidelity.__name__ if module == "__init__" else f"{fidelity.__name__}.{module}"
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
