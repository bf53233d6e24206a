"""The gateway's defaults, written once and importable without its extra (the CLI's help shows them).

Every limit here is a setting (`GatewaySettings`), a flag of `encoder-triton gateway` and an
`ENCODER_TRITON_*` variable; the README's gateway section says how to change each.

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

# -- What one request may carry ----------------------------------------------------------------
#: Texts (or documents, or token sequences) per request: OpenAI's own limit per /v1/embeddings call.
MAX_INPUTS = 2048
#: Characters in all of a request's texts together.
MAX_REQUEST_CHARS = 8_000_000
#: Characters in one text, checked before it travels to Triton (which has its own per-text limit).
MAX_TEXT_CHARS = 100_000
#: Bytes of a request body, refused (413) before any JSON is parsed: 8M characters of JSON text
#: with room for escapes and token-id arrays.
MAX_BODY_BYTES = 32 * 1024 * 1024

# -- Time and concurrency -----------------------------------------------------------------------
#: Seconds one call to Triton may take (the gateway answers 504 after it).
TIMEOUT_S = 60.0
#: Requests to Triton in flight for one gateway request (an input split by the model's max_batch_size).
MAX_CONCURRENCY = 4
#: Model requests the gateway works on at once; more are answered 429 at once (0: no limit).
MAX_IN_FLIGHT = 512
#: Open connections (uvicorn's limit_concurrency; more are answered 503; 0: no limit).
MAX_CONNECTIONS = 2048
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE_S = 5.0
#: Seconds a client has to send a request's head (line and headers) before the connection is closed.
HEADER_TIMEOUT_S = 10.0
#: Seconds a client has to send a request's body once its head arrived (408 after).
BODY_TIMEOUT_S = 30.0

# -- Upstreams (engine triton) ------------------------------------------------------------------
#: Seconds between health probes of every upstream (an ejected one is probed back in).
PROBE_INTERVAL_S = 2.0
#: Seconds a probe may take before the upstream counts as down.
PROBE_TIMEOUT_S = 2.0
