"""The optional extras of `encoder-triton`, and the install hint when one is missing.

`pip install encoder-triton` brings the runtime (tokenizers, ONNX Runtime) and the CLI; the
heavy parts are extras (core/pyproject.toml): `export` (torch, transformers, optimum, onnx),
`serve` (the embedded Triton of nvidia-pytriton) and `gateway` (FastAPI). A path that needs one
calls `require_extra` before its first heavy import, so a missing extra reads as an install
hint instead of a `ModuleNotFoundError` from deep inside the pipeline.

Example:
    >>> missing_modules("gateway")  # where FastAPI, uvicorn and prometheus-client are installed
    []
    >>> require_extra("export", needed_by="encoder-triton export")  # where torch is missing: # doctest: +SKIP
    MissingExtraError: encoder-triton export needs the 'export' extra: pip install 'encoder-triton[export]'
"""

from __future__ import annotations

import importlib.util

from encoder_triton.errors import MissingExtraError

#: extra -> {module it provides: distribution that ships it}, as core/pyproject.toml declares
#: them (a test compares the two). Modules are looked up, not imported: the check costs
#: microseconds, and the import stays with the code that needs it.
EXTRAS: dict[str, dict[str, str]] = {
    "export": {
        "torch": "torch",
        "transformers": "transformers",
        "optimum": "optimum",
        "optimum.exporters.onnx": "optimum-onnx",
        "onnx": "onnx",
        "sentence_transformers": "sentence-transformers",
        "huggingface_hub": "huggingface-hub",
    },
    "serve": {"pytriton": "nvidia-pytriton", "pydantic_settings": "pydantic-settings"},
    "gateway": {
        "fastapi": "fastapi",
        "uvicorn": "uvicorn",
        "prometheus_client": "prometheus-client",
        "pydantic_settings": "pydantic-settings",
    },
}


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` that cannot be found (empty when the extra is installed)."""
    return [module for module in EXTRAS[extra] if not _importable(module)]


def require_extra(extra: str, *, needed_by: str) -> None:
    """Raise MissingExtraError, naming `needed_by` and the pip command, unless `extra` is installed."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(needed_by, extra, missing)


def _importable(module: str) -> bool:
    parts = module.split(".")
    # Parents first: a dotted name is missing when a parent is, and find_spec imports parents.
    return all(_found(".".join(parts[: i + 1])) for i in range(len(parts)))


def _found(name: str) -> bool:
    try:
        # find_spec reads sys.modules first, where None marks a module as unimportable.
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
    except ValueError:  # in sys.modules without a spec (__main__, a module made at runtime)
        return True
