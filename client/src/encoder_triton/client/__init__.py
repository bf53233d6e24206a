"""A light, typed client for models served by encoder-triton.

Importing it pulls in neither torch, transformers, onnxruntime nor tokenizers. Code that uses
it can be tested without a server through `MockTransport` (canned configs and a handler).

Example:
    >>> from encoder_triton.client import EncoderClient
    >>> client = EncoderClient("127.0.0.1:8001", protocol="grpc")  # doctest: +SKIP
    >>> client.embed(["hello world"], model="minilm").vectors.shape  # doctest: +SKIP
    (1, 384)
"""

from encoder_triton.client._client import AsyncEncoderClient, EncoderClient
from encoder_triton.client._exceptions import (
    ConnectError,
    EncoderError,
    InvalidInputError,
    ModelNotFoundError,
    OverloadedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)
from encoder_triton.client._retry import RetryPolicy
from encoder_triton.client._transports.mock import AsyncMockTransport, MockTransport
from encoder_triton.client._types import Classification, Embeddings, ModelInfo, RerankResult, SparseEmbedding

__all__ = [
    "AsyncEncoderClient",
    "AsyncMockTransport",
    "Classification",
    "ConnectError",
    "Embeddings",
    "EncoderClient",
    "EncoderError",
    "InvalidInputError",
    "MockTransport",
    "ModelInfo",
    "ModelNotFoundError",
    "OverloadedError",
    "RequestTimeoutError",
    "RerankResult",
    "RetryPolicy",
    "ServerError",
    "SparseEmbedding",
    "TransportError",
]
