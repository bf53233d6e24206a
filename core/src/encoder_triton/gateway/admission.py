"""Admission: what the gateway refuses before a route has parsed anything, and when it stops.

    in flight   over `max_in_flight` model requests at once: 429 + Retry-After at once, so an
                overload queues in Triton's bounded queue, not in the gateway's memory
    too large   a body over `max_body_bytes`: 413 before the JSON is parsed, at once when its
                Content-Length says so, else as soon as the bytes received pass the limit
    too slow    a body not received within `body_timeout_s` of the request's head: 408
    gone        a client that disconnects before its answer: its request is cancelled, calls to
                Triton included (nobody would read the answer, and Triton has others to serve);
                the access log and the metrics count it as 499 (nginx's "client closed request")

A refused body closes the connection (`Connection: close`): the rest of it is never read. The
413 and 408 are raised from inside the route's body read, so the app answers them in the
route's own error shape; a 429 for being in flight is answered here, in the shape `shape_for`
gives for the path. Probes, /metrics and the docs are never refused for being in flight.

Example:
    >>> app.add_middleware(AdmissionMiddleware, max_in_flight=512, max_body_bytes=2**25,
    ...                    body_timeout_s=30, shape_for=lambda path: message_error)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from encoder_triton.gateway.errors import ErrorShape, headers_for

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Routes that call no model: never refused for the gateway being busy.
NOT_COUNTED = frozenset({"/livez", "/readyz", "/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc"})
NOT_COUNTED_PREFIXES = ("/openapi",)
#: A refused body is not read: the connection cannot carry another request.
CLOSE = {"connection": "close"}


def body_too_large(limit: int, size: int | None = None) -> HTTPException:
    said = f"{size:,} bytes" if size is not None else "more bytes than that"
    return HTTPException(413, f"request body of {said}, over the limit of {limit:,} bytes", headers=CLOSE)


class AdmissionMiddleware:
    """Counts model requests in flight and bounds each request body in bytes and in time."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        max_body_bytes: int,
        body_timeout_s: float,
        shape_for: Callable[[str], ErrorShape],
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.shape_for = shape_for
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        counted = path not in NOT_COUNTED and not path.startswith(NOT_COUNTED_PREFIXES)
        if counted and self.max_in_flight and self.in_flight >= self.max_in_flight:
            message = f"the gateway is working on {self.in_flight} requests, its limit: retry later"
            response = JSONResponse(self.shape_for(path)(429, message), status_code=429, headers=headers_for(429))
            await response(scope, receive, send)
            return
        self.in_flight += int(counted)
        try:
            await _Exchange(self, scope, receive, send).run()
        finally:
            self.in_flight -= int(counted)


#: The status the access log and the metrics give a request whose client left first.
CLIENT_CLOSED = 499


class _Exchange:
    """One request through the app: its body bounded, and cancelled if its client leaves first."""

    def __init__(self, limits: AdmissionMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
        self.limits, self.scope, self.receive, self.send = limits, scope, receive, send
        self.declared = _content_length(scope)
        self.deadline = asyncio.get_running_loop().time() + limits.body_timeout_s
        self.received = 0
        self.body_done = False
        self.started = False  # the response has started: too late to cancel
        self.client_gone = False
        self.app_task: asyncio.Task[None] | None = None
        self.watcher: asyncio.Task[None] | None = None

    async def run(self) -> None:
        self.app_task = asyncio.ensure_future(self.limits.app(self.scope, self.receive_bounded, self.send_tracked))
        try:
            await self.app_task
        except asyncio.CancelledError:
            if not self.client_gone or self.started:
                raise
            # Nobody reads this: it is for the access log and the metrics around the app.
            response = JSONResponse({"message": "the client closed the request"}, status_code=CLIENT_CLOSED)
            await response(self.scope, self.receive, self.send)
        finally:
            if self.watcher is not None:
                self.watcher.cancel()

    async def send_tracked(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)

    async def receive_bounded(self) -> Message:
        """`receive`, raising 413 past `max_body_bytes` and 408 past `body_timeout_s`."""
        limit = self.limits.max_body_bytes
        if self.declared is not None and self.declared > limit:
            raise body_too_large(limit, self.declared)
        if self.body_done:
            return await self.receive()  # after the body: only a disconnect can come
        remaining = self.deadline - asyncio.get_running_loop().time()
        try:
            message = await asyncio.wait_for(self.receive(), max(remaining, 0.0))
        except asyncio.TimeoutError:
            raise HTTPException(
                408, f"the request body did not arrive within {self.limits.body_timeout_s:g} s", headers=CLOSE
            ) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > limit:
                raise body_too_large(limit)
            if not message.get("more_body", False):
                self.body_done = True
                self.watcher = asyncio.ensure_future(self.watch_disconnect())
        return message

    async def watch_disconnect(self) -> None:
        """Once the body is in, the next message can only say that the client left."""
        message = await self.receive()
        if message["type"] == "http.disconnect" and not self.started and self.app_task is not None:
            self.client_gone = True
            self.app_task.cancel()


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # h11 refuses a malformed length before the app sees it
    return None
