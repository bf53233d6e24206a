"""The exporter's exceptions. Each message says what to do next.

ExportError
├── ModelSourceError      the model could not be found or downloaded
├── UnsupportedModelError the architecture or files are not something we can export
└── FidelityError         the exported model disagrees with the PyTorch reference
"""

from __future__ import annotations


class ExportError(Exception):
    """Base class: exporting failed."""


class ModelSourceError(ExportError):
    """MODEL is neither a local folder nor a hub id that could be fetched."""


class UnsupportedModelError(ExportError):
    """The model's files or architecture cannot be exported."""


class FidelityError(ExportError):
    """Validation against the PyTorch reference failed; `failures` lists every failing check."""

    def __init__(self, message: str, failures: list[str]) -> None:
        super().__init__(message + "\n  " + "\n  ".join(failures))
        self.failures = failures
