"""What the gateway talks to and what it accepts; light, so the CLI reads its defaults cheaply.

Example:
    >>> GatewaySettings(triton_url="127.0.0.1:8001").protocol
    'grpc'
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GatewaySettings:
    """What the gateway talks to and what it accepts."""

    triton_url: str = "127.0.0.1:8001"
    protocol: str = "grpc"
    api_keys: frozenset[str] = field(default_factory=frozenset)
    max_inputs: int = 2048  # OpenAI's own limit per /v1/embeddings request
    max_request_chars: int = 8_000_000
    timeout_s: float = 60.0
    max_concurrency: int = 4
