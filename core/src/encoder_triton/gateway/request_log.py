"""Request IDs and the access log: every request gets an ID, every log line about it carries it.

`RequestLogMiddleware` (plain ASGI, so it sees the bytes actually sent) honours an incoming
`X-Request-ID` or makes one, keeps it in a context variable for the request's task, returns it
in the `X-Request-ID` response header and, when the access log is on, writes one line per
request in Apache's combined format followed by the request ID and the duration:

    127.0.0.1 - - [02/Jan/2026:10:00:00 +0000] "POST /v1/embeddings HTTP/1.1" 200 8123 "-" "curl/8.5" \
request_id=4f1c... duration_ms=12.3

`RequestIdFilter` puts the same ID on every log record (`%(request_id)s`), so the gateway's own
log lines about a request name it too.

Example:
    >>> token = REQUEST_ID.set("abc")
    >>> current_request_id()
    'abc'
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

#: The header a request ID arrives and leaves in.
REQUEST_ID_HEADER = "x-request-id"
#: Where the access log goes (a logger, so deployments route it as they like).
ACCESS_LOGGER = "encoder_triton.gateway.access"
#: The gateway's own log lines (errors, warnings) about requests.
GATEWAY_LOGGER = "encoder_triton.gateway"
#: An incoming ID is kept when it is short and printable, else replaced (log injection).
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def current_request_id() -> str:
    """The ID of the request being served ('-' outside one)."""
    return REQUEST_ID.get()


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's `X-Request-ID` when acceptable, else a new random one."""
    for name, value in headers:
        if name.lower() == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1").strip()
            if _ACCEPTABLE_ID.match(text):
                return text
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (for formats that print `%(request_id)s`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


def access_line(scope: Scope, status: int, sent: int, request_id: str, seconds: float) -> str:
    """One Apache combined log line, plus the request ID and the duration in milliseconds."""
    client = scope.get("client") or ("-", 0)
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    path = scope.get("path", "")
    query = scope.get("query_string", b"").decode("latin-1")
    target = f"{path}?{query}" if query else path
    when = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime())
    request_line = f"{scope.get('method', '-')} {target} HTTP/{scope.get('http_version', '1.1')}"
    return (
        f'{client[0]} - - [{when}] "{_quote(request_line)}" {status} {sent or "-"} '
        f'"{_quote(headers.get("referer", "-"))}" "{_quote(headers.get("user-agent", "-"))}" '
        f"request_id={request_id} duration_ms={seconds * 1000:.1f}"
    )


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class RequestLogMiddleware:
    """Request IDs for every HTTP request, and the access log when `access_log` is on."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.logger = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        token = REQUEST_ID.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status, sent = 500, 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER.encode()]
                message["headers"] = [*headers, (REQUEST_ID_HEADER.encode(), request_id.encode())]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                self.logger.info(access_line(scope, status, sent, request_id, time.perf_counter() - started))
            REQUEST_ID.reset(token)


def configure_logging(level: int = logging.INFO) -> None:
    """Send the gateway's and the access log's lines to stderr, each with its request ID."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger(ACCESS_LOGGER)
    access.addHandler(handler)
    access.setLevel(level)
    access.propagate = False
    detail = logging.StreamHandler()
    detail.addFilter(RequestIdFilter())
    detail.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"))
    gateway = logging.getLogger(GATEWAY_LOGGER)
    gateway.addHandler(detail)
    gateway.setLevel(level)
