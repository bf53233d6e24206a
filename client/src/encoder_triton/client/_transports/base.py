"""What a client needs from a transport: one request at a time, sync or asyncio.

A transport moves named numpy arrays to a model and back and raises the client's exceptions
(`encoder_triton.client.EncoderError` and below). Splitting big inputs, concurrency and retries
belong to the clients, so a transport stays small: Triton over the network (`triton.py`), the
in-process runtime (`local.py`) and canned answers for tests (`mock.py`).

Example:
    >>> from encoder_triton.client import EncoderClient, MockTransport
    >>> transport: Transport = MockTransport(lambda model, inputs, outputs: {}, [])
    >>> EncoderClient(transport=transport).health()
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np


class Transport(Protocol):
    """The sync transport interface (`EncoderClient` calls it from several threads at once)."""

    def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        """The `outputs` of one inference of `model` on `inputs` (rows no more than its max_batch_size);
        `parameters` are Triton request parameters (see `contract.RequestParam`)."""
        ...

    def model_config(self, model: str) -> dict[str, Any]:
        """The model's config as Triton's config API returns it (JSON form)."""
        ...

    def model_names(self) -> list[str]:
        """Names of every model loaded, components included."""
        ...

    def statistics(self) -> dict[str, Any]:
        """Per-model counters as Triton's statistics API returns them (`{"model_stats": [...]}`)."""
        ...

    def is_ready(self) -> bool: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    """The asyncio transport interface (`AsyncEncoderClient`); the same methods, awaited."""

    async def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]: ...

    async def model_config(self, model: str) -> dict[str, Any]: ...

    async def model_names(self) -> list[str]: ...

    async def statistics(self) -> dict[str, Any]: ...

    async def is_ready(self) -> bool: ...

    async def close(self) -> None: ...
