"""Every error the `encoder-triton` distribution raises on purpose, in one tree.

    EncoderTritonError                     catch this to catch them all
    ├── ExportError                        exporting a model failed
    │   ├── ModelSourceError               MODEL is neither a model folder nor a fetchable hub id
    │   ├── UnsupportedModelError          the architecture or files cannot be exported
    │   ├── FidelityError                  the export disagrees with the PyTorch reference
    │   └── TensorRTBuildError             TensorRT is missing or cannot build an engine
    ├── InvalidTextError (ValueError)      a request's text cannot be encoded (bad input)
    ├── ProviderUnavailableError (RuntimeError)
    │                                      no requested ONNX Runtime execution provider exists
    ├── TensorRTUnavailableError (RuntimeError)
    │                                      TensorRT, CUDA torch or a GPU is missing at serve time
    ├── EmbeddedTritonError (RuntimeError) the embedded Triton could not start (Triton's reason)
    ├── PayloadTooLarge                    a gateway request over its limits (HTTP 413)
    ├── UnauthorizedError                  a gateway request without a valid API key (HTTP 401)
    └── MissingExtraError (ImportError)    an optional extra is not installed (says what to pip install)

The built-in class in parentheses is a second base, kept so that code catching ValueError,
RuntimeError or ImportError goes on working. Each message says what to do next. The client
distribution has its own tree (`encoder_triton.client.EncoderError`), the bench its own
(`encoder_triton.bench.errors.BenchError`).

Standard library only: the runtime that runs inside Triton's python backend imports it.

Example:
    >>> try:
    ...     raise FidelityError("the int8 export misses its bounds:", ["min cosine 0.91 < 0.97"])
    ... except EncoderTritonError as exc:
    ...     print(exc)
    the int8 export misses its bounds:
      min cosine 0.91 < 0.97
"""

from __future__ import annotations

from collections.abc import Sequence


class EncoderTritonError(Exception):
    """Base class of every error encoder-triton raises on purpose."""


class ExportError(EncoderTritonError):
    """Exporting a model failed."""


class ModelSourceError(ExportError):
    """MODEL is neither a local folder nor a hub id that could be fetched."""


class UnsupportedModelError(ExportError):
    """The model's files or architecture cannot be exported."""


class FidelityError(ExportError):
    """Validation against the PyTorch reference failed; `failures` lists every failing check."""

    def __init__(self, message: str, failures: list[str]) -> None:
        super().__init__(message + "\n  " + "\n  ".join(failures))
        self.failures = failures


class TensorRTBuildError(ExportError):
    """TensorRT is missing or could not build an engine from the graph."""


class InvalidTextError(EncoderTritonError, ValueError):
    """A request carried a text that cannot be encoded; the message says which and why."""


class ProviderUnavailableError(EncoderTritonError, RuntimeError):
    """No requested execution provider exists in the installed onnxruntime."""


class TensorRTUnavailableError(EncoderTritonError, RuntimeError):
    """TensorRT, torch with CUDA, or a GPU is missing; the message says what to install."""


class EmbeddedTritonError(EncoderTritonError, RuntimeError):
    """The embedded Triton could not be started; the message carries Triton's own reason."""


class PayloadTooLarge(EncoderTritonError):
    """A request over the gateway's limits (413)."""


class UnauthorizedError(EncoderTritonError):
    """A gateway request without a valid API key; answered 401 in the route's own error shape."""


class MissingExtraError(EncoderTritonError, ImportError):
    """An optional extra of encoder-triton is not installed.

    `extra` names it (export, serve, gateway), `missing` the modules that were not found; the
    message ends with the pip command that installs it.
    """

    def __init__(self, needed_by: str, extra: str, missing: Sequence[str]) -> None:
        super().__init__(
            f"{needed_by} needs the {extra!r} extra: pip install 'encoder-triton[{extra}]'",
            name=missing[0] if missing else None,
        )
        self.needed_by = needed_by
        self.extra = extra
        self.missing = tuple(missing)
