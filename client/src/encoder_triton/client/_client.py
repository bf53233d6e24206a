"""`EncoderClient`: typed task methods over a Triton transport.

Example:
    >>> from encoder_triton.client import EncoderClient
    >>> with EncoderClient("127.0.0.1:8001") as client:  # doctest: +SKIP
    ...     vectors = client.embed(["hello", "world"], model="minilm")
    >>> vectors.shape  # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.client._exceptions import InvalidInputError
from encoder_triton.client._transport import Protocol, TritonTransport


def encode_texts(texts: str | Sequence[str]) -> np.ndarray:
    """Texts as the BYTES tensor [N, 1] the ensembles take; validates types locally."""
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(texts, bytes) or not isinstance(texts, Sequence):
        raise InvalidInputError(f"texts must be a string or a sequence of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise InvalidInputError("texts is empty: pass at least one text")
    rows = np.empty((len(texts), 1), dtype=np.object_)
    for index, text in enumerate(texts):
        if isinstance(text, str):
            rows[index, 0] = text.encode("utf-8", errors="strict")
        elif isinstance(text, bytes):
            rows[index, 0] = text  # the server validates the encoding
        else:
            raise InvalidInputError(f"text {index} has type {type(text).__name__}: pass strings")
    return rows


class EncoderClient:
    """A client for the ensembles `encoder-triton export` writes, over Triton gRPC or HTTP.

    `url` is `host:port` (gRPC 8001 or HTTP 8000 by Triton's convention).
    """

    def __init__(
        self,
        url: str = "127.0.0.1:8001",
        *,
        protocol: Protocol = "grpc",
        timeout: float = 60.0,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._transport = TritonTransport(url, protocol=protocol, timeout=timeout, ssl=ssl, headers=headers)

    def __enter__(self) -> EncoderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def health(self) -> bool:
        """True when the server is ready to serve."""
        return self._transport.is_ready()

    def model_config(self, model: str) -> dict[str, Any]:
        return self._transport.model_config(model)

    def embed(self, texts: str | Sequence[str], *, model: str) -> np.ndarray:
        """Embeddings, float32 [len(texts), dim], in the order of `texts`."""
        outputs = self._transport.infer(model, {contract.TEXT: encode_texts(texts)}, [contract.EMBEDDING])
        return outputs[contract.EMBEDDING]
