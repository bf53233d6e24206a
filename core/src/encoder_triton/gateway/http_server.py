"""The gateway's HTTP server (uvicorn), configured so that no client can hold it.

    keep_alive_s       an idle keep-alive connection closes after this (uvicorn's timeout_keep_alive)
    header_timeout_s   a connection whose request head (line and headers) has not arrived this
                       long after it opened, or after its previous response, is closed: a slowloris
                       client holds one socket for that long, never the server. uvicorn itself has
                       no such timeout (its keep-alive timer stops at the first byte received).
    max_connections    uvicorn's limit_concurrency: beyond it a new request gets 503 at once
    headers            at most 16 KiB of request head (h11's default), else 400

Bodies are bounded in bytes and time by `admission`. The CLI and the tests build their server
from `server_config`, so both run the same protections.

Example:
    >>> config = server_config(create_app(settings), settings)  # doctest: +SKIP
    >>> uvicorn.Server(config).run()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from typing import Any

from encoder_triton.gateway.settings import GatewaySettings


def protocol_with_header_timeout(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing connections whose request head is slower than `seconds`."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        header_timeout_s = seconds
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_head_timer()  # the next request's head has the same time to arrive

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            if not self.transport.is_closing():
                # A new request head replaces `scope`: the timer acts only if none arrived.
                self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out, self.scope)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self, scope_when_armed: Any) -> None:
            self._head_timer = None
            if self.scope is scope_when_armed and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol


def server_config(app: Any, settings: GatewaySettings, **overrides: Any) -> Any:
    """The `uvicorn.Config` that serves `app` with the settings' limits (`overrides` win)."""
    import uvicorn

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": protocol_with_header_timeout(settings.header_timeout_s),
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections or None,
        "log_level": "warning",
        "access_log": False,  # the gateway's own access log carries request IDs and durations
    }
    return uvicorn.Config(app, **{**options, **overrides})
