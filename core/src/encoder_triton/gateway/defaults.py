"""The gateway's defaults, written once and importable without its extra (the CLI's help shows them).

Example:
    >>> TRITON_URL, PROTOCOL
    ('127.0.0.1:8001', 'grpc')
"""

from __future__ import annotations

from typing import Literal

TRITON_URL = "127.0.0.1:8001"
PROTOCOL: Literal["grpc", "http"] = "grpc"
HOST = "127.0.0.1"
PORT = 8080
ENGINE: Literal["triton", "local"] = "triton"
#: Engine local: milliseconds a request waits for others to share its encoder call.
BATCH_WINDOW_MS = 2.0
