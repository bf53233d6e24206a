"""What the gateway refuses before a model runs, and its own probes and upstream metrics.

The app runs in process (httpx's ASGI transport) over the shipped mock transport; the same
checks against a real uvicorn and a real Triton are in tests/integration/test_gateway_faults.py.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from encoder_triton.client import AsyncEncoderClient, AsyncMockTransport
from encoder_triton.gateway.app import create_app
from encoder_triton.gateway.backend import Backend
from encoder_triton.gateway.settings import GatewaySettings
from encoder_triton.gateway.upstreams import UpstreamPool

CONFIG = AsyncMockTransport.ensemble_config("minilm", task="embed", max_batch_size=8, dimension=2)
Call = Callable[[httpx.AsyncClient], Awaitable[Any]]


def answer(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    return {"EMBEDDING": np.ones((len(inputs["TEXT"]), 2), dtype=np.float32)}


def serve(
    call: Call, *, transport: AsyncMockTransport | None = None, backend: Backend | None = None, **limits: Any
) -> Any:
    """Run `call` against the app over a mock transport (or `backend`), lifespan included."""
    settings = GatewaySettings(_env_file=None, **limits)
    if backend is None:
        client = AsyncEncoderClient(transport=transport or AsyncMockTransport(answer, [CONFIG]))
        app = create_app(settings, client)
    else:
        app = create_app(settings, backend=backend)

    async def main() -> Any:
        async with app.router.lifespan_context(app):
            asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=asgi, base_url="http://gateway") as http:
                return await call(http)

    return asyncio.run(main())


def embeddings(http: httpx.AsyncClient, body: bytes, **headers: str) -> Awaitable[httpx.Response]:
    return http.post("/v1/embeddings", content=body, headers={"content-type": "application/json", **headers})


def test_a_body_over_the_limit_is_refused_before_it_is_parsed() -> None:
    huge = b'{"model": "minilm", "input": "' + b"x" * 5000 + b'"}'

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield huge[:3000]
        yield huge[3000:]

    async def call(http: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await embeddings(http, huge),
            await http.post("/v1/embeddings", content=chunks(), headers={"content-type": "application/json"}),
            await http.post("/rerank", content=huge, headers={"content-type": "application/json"}),
            await embeddings(http, b'{"model": "minilm", "input": "fits"}'),
        ]

    declared, streamed, rerank, fits = serve(call, max_body_bytes=4096)
    assert declared.status_code == 413 and declared.headers["connection"] == "close"
    assert declared.json()["error"]["message"] == f"request body of {len(huge):,} bytes, over the limit of 4,096 bytes"
    assert streamed.status_code == 413 and "over the limit of 4,096 bytes" in streamed.json()["error"]["message"]
    assert rerank.status_code == 413 and "over the limit" in rerank.json()["message"]  # Cohere's shape
    assert fits.status_code == 200


def test_a_body_slower_than_the_body_timeout_gets_408() -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield b'{"model": "minilm", '
        await asyncio.sleep(1.0)
        yield b'"input": "late"}'

    async def call(http: httpx.AsyncClient) -> httpx.Response:
        return await http.post("/v1/embeddings", content=slow(), headers={"content-type": "application/json"})

    response = serve(call, body_timeout_s=0.2)
    assert response.status_code == 408
    assert response.json()["error"]["message"] == "the request body did not arrive within 0.2 s"


def test_requests_over_max_in_flight_get_429_at_once_and_probes_still_answer() -> None:
    release = asyncio.Event()

    async def held(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        await release.wait()
        return answer(model, inputs, outputs)

    async def call(http: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
        body = b'{"model": "minilm", "input": "x"}'
        first = asyncio.ensure_future(embeddings(http, body))
        await asyncio.sleep(0.1)  # the first is in flight, waiting on the model
        refused = await embeddings(http, body)
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
        release.set()
        return refused, ready, metrics, await first

    refused, ready, metrics, first = serve(call, transport=AsyncMockTransport(held, [CONFIG]), max_in_flight=1)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert "working on 1 requests" in refused.json()["error"]["message"]
    assert ready.status_code == 200 and metrics.status_code == 200
    assert 'gateway_requests_total{route="/v1/embeddings",status="429"} 1.0' in metrics.text
    assert first.status_code == 200


def test_a_text_over_max_text_chars_is_413_naming_it() -> None:
    async def call(http: httpx.AsyncClient) -> httpx.Response:
        return await embeddings(http, json.dumps({"model": "minilm", "input": ["ok", "y" * 101]}).encode())

    response = serve(call, max_text_chars=100)
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "text 1 has 101 characters, over the limit of 100 per text"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b'{"model": "minilm", "input": ["a"', "application/json", 422, "JSON decode error"),
        (b'{"model": "minilm", "input": "\xff\xfe"}', "application/json", 400, "not valid UTF-8"),
        (b'{"model": "minilm", "input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json", 400, "nests"),
        (b'{"model": "minilm", "input": "a"}', "text/plain", 422, "valid dictionary"),
        (b"model=minilm&input=a", "application/x-www-form-urlencoded", 422, "valid dictionary"),
    ],
    ids=["truncated", "invalid-utf8", "deeply-nested", "text-plain", "form"],
)
def test_malformed_bodies_get_a_clean_4xx_in_the_apis_shape(
    body: bytes, content_type: str, status: int, message: str
) -> None:
    async def call(http: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        bad = await http.post("/v1/embeddings", content=body, headers={"content-type": content_type})
        return bad, await embeddings(http, b'{"model": "minilm", "input": "after"}')

    bad, after = serve(call)
    assert bad.status_code == status, bad.text
    assert message in bad.json()["error"]["message"]
    assert after.status_code == 200


def test_unknown_paths_keep_fastapis_404_and_one_metrics_series() -> None:
    async def call(http: httpx.AsyncClient) -> tuple[httpx.Response, str]:
        for index in range(5):
            await http.get(f"/scan/{index}")
        return await http.get("/nope"), (await http.get("/metrics")).text

    missing, metrics = serve(call)
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    assert 'gateway_requests_total{route="(unmatched)",status="404"} 6.0' in metrics
    assert "/scan/" not in metrics


def test_readyz_and_livez_follow_the_upstreams() -> None:
    class Server:
        down = False

    class Connection(AsyncMockTransport):
        async def is_ready(self) -> bool:
            return not Server.down

    pool = UpstreamPool(["t:8001"], lambda a: Connection(answer, [CONFIG]), probe_interval_s=0.05)
    client = AsyncEncoderClient(transport=pool)

    async def call(http: httpx.AsyncClient) -> tuple[Any, ...]:
        ready = await http.get("/readyz")
        Server.down = True
        await asyncio.sleep(0.3)
        unready, live, metrics = await http.get("/readyz"), await http.get("/livez"), await http.get("/metrics")
        health = await http.get("/health")
        await pool.close()  # the prober stops: the process can no longer heal
        return ready, unready, live, metrics.text, health, await http.get("/livez")

    ready, unready, live, metrics, health, dead = serve(call, backend=Backend(client, pool=pool))
    assert ready.status_code == 200 and ready.json()["upstreams"][0]["address"] == "t:8001"
    assert unready.status_code == 503 and unready.headers["retry-after"] == "1"
    body = unready.json()
    assert body["status"] == "unavailable" and body["upstreams"][0]["up"] is False
    assert body["upstreams"][0]["last_error"] == "its health probe answered not ready"
    assert live.status_code == 200 and live.json() == {"status": "alive"}
    assert 'gateway_upstream_up{upstream="t:8001"} 0.0' in metrics
    assert 'gateway_upstream_ejections_total{upstream="t:8001"} 1.0' in metrics
    assert health.status_code == 503  # the classifier servers' /health agrees
    assert dead.status_code == 503 and dead.json() == {"status": "dead"}


def test_every_limit_is_a_setting_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ENCODER_TRITON_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    values = {
        "MAX_INPUTS": "7",
        "MAX_REQUEST_CHARS": "700",
        "MAX_TEXT_CHARS": "70",
        "MAX_BODY_BYTES": "7000",
        "TIMEOUT_S": "7.5",
        "MAX_CONCURRENCY": "3",
        "MAX_IN_FLIGHT": "9",
        "MAX_CONNECTIONS": "11",
        "KEEP_ALIVE_S": "2.5",
        "HEADER_TIMEOUT_S": "4",
        "BODY_TIMEOUT_S": "6",
        "PROBE_INTERVAL_S": "0.5",
        "PROBE_TIMEOUT_S": "0.25",
    }
    for name, value in values.items():
        monkeypatch.setenv(f"ENCODER_TRITON_{name}", value)
    monkeypatch.setenv("ENCODER_TRITON_TRITON_URL", '["a:8001", "b:8001"]')
    settings = GatewaySettings()
    for name, value in values.items():
        assert getattr(settings, name.lower()) == type(getattr(settings, name.lower()))(value), name
    assert settings.upstreams == ("a:8001", "b:8001")
    monkeypatch.setenv("ENCODER_TRITON_TRITON_URL", "a:8001, b:8001")
    assert GatewaySettings().upstreams == ("a:8001", "b:8001")


def test_a_client_that_leaves_before_its_answer_cancels_its_request() -> None:
    events: list[str] = []

    async def held(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append("the call to the model was cancelled")
            raise
        return answer(model, inputs, outputs)

    app = create_app(GatewaySettings(_env_file=None), AsyncEncoderClient(transport=AsyncMockTransport(held, [CONFIG])))
    body = b'{"model": "minilm", "input": "x"}'
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/embeddings",
        "raw_path": b"/v1/embeddings",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("gateway", 80),
        "state": {},
    }

    async def main() -> tuple[list[dict[str, Any]], float, str]:
        sent: list[dict[str, Any]] = []
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop()
            await asyncio.sleep(0.2)  # the client waits a little, then hangs up
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(dict(message))

        async with app.router.lifespan_context(app):
            started = asyncio.get_running_loop().time()
            await app(scope, receive, send)  # type: ignore[arg-type]
            took = asyncio.get_running_loop().time() - started
            asgi = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=asgi, base_url="http://gateway") as http:
                metrics = (await http.get("/metrics")).text
        return sent, took, metrics

    sent, took, metrics = asyncio.run(main())
    assert events == ["the call to the model was cancelled"]
    assert took < 5  # not the model's 30 s
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 499
    assert 'gateway_requests_total{route="/v1/embeddings",status="499"} 1.0' in metrics


@pytest.mark.parametrize(
    ("flag", "setting"),
    [
        ("--max-inputs", "max_inputs"),
        ("--max-request-chars", "max_request_chars"),
        ("--max-text-chars", "max_text_chars"),
        ("--max-body-bytes", "max_body_bytes"),
        ("--timeout", "timeout_s"),
        ("--max-concurrency", "max_concurrency"),
        ("--keep-alive", "keep_alive_s"),
        ("--header-timeout", "header_timeout_s"),
        ("--body-timeout", "body_timeout_s"),
        ("--probe-interval", "probe_interval_s"),
        ("--probe-timeout", "probe_timeout_s"),
    ],
)
def test_each_limit_flag_reaches_its_setting(flag: str, setting: str) -> None:
    """A value the setting refuses fails the command naming the setting, before anything starts."""
    from typer.testing import CliRunner

    from encoder_triton.cli import app

    result = CliRunner().invoke(app, ["gateway", "--triton", "a:8001", "--triton", "b:8001", flag, "0"])
    assert result.exit_code != 0
    assert "invalid gateway setting" in result.output and setting in result.output
