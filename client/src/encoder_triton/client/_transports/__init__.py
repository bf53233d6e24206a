"""Transports: how a client reaches a model (Triton over gRPC or HTTP, in-process, or a mock).

    base.py     the `Transport` / `AsyncTransport` interfaces: one request at a time
    triton.py   tritonclient's gRPC and HTTP clients, sync and asyncio
    _errors.py  the one place upstream errors become the client's exceptions
    local.py    the exported repository run in this process (needs `encoder-triton`)
    mock.py     canned configs and a handler function, for tests without a server

Example:
    >>> from encoder_triton.client._transports import TritonTransport
    >>> TritonTransport("127.0.0.1:8001", protocol="grpc").model_names()  # doctest: +SKIP
    ['minilm', 'minilm_encoder', 'minilm_tokenizer']
"""

from encoder_triton.client._transports.base import AsyncTransport, Transport
from encoder_triton.client._transports.mock import AsyncMockTransport, MockTransport
from encoder_triton.client._transports.triton import AsyncTritonTransport, TritonTransport

__all__ = [
    "AsyncMockTransport",
    "AsyncTransport",
    "AsyncTritonTransport",
    "MockTransport",
    "Transport",
    "TritonTransport",
]
