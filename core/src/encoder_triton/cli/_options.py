"""Defaults that several commands share, written once.

Example:
    >>> str(DEFAULT_REPO), TRITON_GRPC
    ('model_repository', '127.0.0.1:8001')
"""

from __future__ import annotations

from pathlib import Path

#: Where `export` writes and `serve` reads (the README's layout).
DEFAULT_REPO = Path("model_repository")
#: Binding to loopback keeps a server private to this machine.
LOCAL_HOST = "127.0.0.1"
#: Triton's conventional ports, which `serve` binds by default.
HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
#: Where the query commands find the Triton that `serve` started.
TRITON_GRPC = f"{LOCAL_HOST}:{GRPC_PORT}"
#: The HTTP gateway's port, with `serve --gateway` or `gateway`.
GATEWAY_PORT = 8080
