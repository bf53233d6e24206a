"""Faults injected behind and in front of the gateway, on loopback, each bounded in time.

Each test says which errors it allows while the fault lasts, asserts that every other request
succeeded with the right answer and that the service recovered, and prints how long recovery
took (measured, never asserted tightly: the machine is shared).

    behind   kill -9 of the only Triton (503 + Retry-After while down, /readyz false, back
             when a Triton returns on that address); two Tritons, one killed under load
    in front a client that disconnects mid-request; slow clients holding connections
             (slowloris) and slow bodies; malformed HTTP and malformed payloads
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from encoder_triton.server.embedded import EmbeddedTriton

pytestmark = pytest.mark.triton

#: Probes every half second: a dead Triton is noticed within about that.
FAST_PROBES = {"probe_interval_s": 0.5, "probe_timeout_s": 1.0, "timeout_s": 20.0}


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until `condition` held, polling every 0.1 s; fails after `timeout_s`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"{what}: not within {timeout_s} s"
        time.sleep(0.1)
    return time.monotonic() - started


def status_of(url: str) -> int:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return 0


def embed(gateway: Any, texts: list[str], timeout: float = 60) -> requests.Response:
    return requests.post(gateway.url + "/v1/embeddings", json={"model": "minilm", "input": texts}, timeout=timeout)


def vectors(response: requests.Response) -> np.ndarray:
    return np.array([row["embedding"] for row in response.json()["data"]], dtype=np.float32)


@pytest.fixture
def tritons(minilm_repo: Path) -> Iterator[Callable[..., EmbeddedTriton]]:
    """Start embedded Tritons for one test (fixed ports when given); all stopped at its end."""
    started: list[EmbeddedTriton] = []

    def start(**ports: int) -> EmbeddedTriton:
        server = EmbeddedTriton(minilm_repo, **ports)  # type: ignore[arg-type]
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


def kill_9(server: EmbeddedTriton) -> float:
    """SIGKILL the tritonserver (what the OOM killer does); returns when it happened."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    return time.monotonic()


# -- behind the gateway --------------------------------------------------------------------


def test_killed_triton_gets_503_and_recovers_when_one_returns_on_its_address(
    tritons: Callable[..., EmbeddedTriton], start_gateway: Callable[..., Any], corpus_sentences: list[str]
) -> None:
    """Allowed while Triton is down: 503 with Retry-After, and nothing else."""
    server = tritons()
    assert server.endpoints is not None
    ports = {"http_port": server.endpoints.http_port, "grpc_port": server.endpoints.grpc_port}
    ports["metrics_port"] = server.endpoints.metrics_port
    gateway = start_gateway(triton_url=server.endpoints.grpc, **FAST_PROBES)
    texts = corpus_sentences[:8]
    before = embed(gateway, texts)
    assert before.status_code == 200
    expected = vectors(before)

    killed = kill_9(server)
    server.stop()  # reap the orphaned stubs and free /dev/shm; the server is already dead
    noticed = wait_for(lambda: status_of(gateway.url + "/readyz") == 503, 15, "/readyz says not ready")
    down = [embed(gateway, texts, timeout=30) for _ in range(5)]
    assert [r.status_code for r in down] == [503] * 5
    assert {r.headers["retry-after"] for r in down} == {"1"}
    assert "is the server running" in down[0].json()["error"]["message"]
    assert status_of(gateway.url + "/livez") == 200  # the process is fine: do not restart it

    replacement = tritons(**ports)
    back_at = time.monotonic()
    readmitted = wait_for(lambda: status_of(gateway.url + "/readyz") == 200, 30, "/readyz ready again")
    answers = [embed(gateway, texts) for _ in range(100)]
    assert [r.status_code for r in answers] == [200] * 100
    for response in answers:
        np.testing.assert_allclose(vectors(response), expected, atol=1e-4)
    assert replacement.pid is not None
    print(
        f"\nkill -9 behind the gateway: not ready after {noticed:.1f} s; "
        f"ready {readmitted:.1f} s after the new Triton was (down {back_at - killed:.1f} s in all); "
        "100/100 requests correct after"
    )


@dataclass
class Outcome:
    at: float
    status: int
    correct: bool


def test_one_of_two_tritons_killed_under_load_errors_stop_and_readiness_holds(
    tritons: Callable[..., EmbeddedTriton], start_gateway: Callable[..., Any], corpus_sentences: list[str]
) -> None:
    """Allowed: 502/503/504 for requests in flight on the killed Triton, within 10 s of the kill.
    Every 200 carries the right vectors; /readyz answers 200 all along."""
    first, second = tritons(), tritons()
    assert first.endpoints is not None and second.endpoints is not None
    gateway = start_gateway(triton_url=[first.endpoints.grpc, second.endpoints.grpc], **FAST_PROBES)
    texts = corpus_sentences[:40]
    expected = {}
    for text in texts:
        response = embed(gateway, [text])
        assert response.status_code == 200
        expected[text] = vectors(response)[0]

    outcomes: list[Outcome] = []
    readiness: list[int] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load(offset: int) -> None:
        index = offset
        while not stop.is_set():
            text = texts[index % len(texts)]
            index += 1
            try:
                response = embed(gateway, [text], timeout=30)
                status = response.status_code
                ok = status == 200 and np.allclose(vectors(response)[0], expected[text], atol=1e-4)
            except requests.RequestException:
                status, ok = 0, False
            with lock:
                outcomes.append(Outcome(time.monotonic(), status, ok))

    def probe() -> None:
        while not stop.is_set():
            readiness.append(status_of(gateway.url + "/readyz"))
            time.sleep(0.2)

    workers = [threading.Thread(target=load, args=(i * 7,)) for i in range(4)] + [threading.Thread(target=probe)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(3)
        killed = kill_9(first)
        time.sleep(10)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    first.stop()

    after = [o for o in outcomes if o.at > killed]
    errors = [o for o in outcomes if o.status != 200]
    assert all(o.correct for o in outcomes if o.status == 200), "a success carried a wrong answer"
    assert {o.status for o in errors} <= {502, 503, 504}, [o.status for o in errors]
    assert all(o.at > killed for o in errors), "errors before the kill"
    last_error = max((o.at - killed for o in errors), default=0.0)
    assert last_error < 10, f"errors went on {last_error:.1f} s after the kill"
    recovered = [o for o in after if o.at > killed + last_error]
    assert len(recovered) >= 10, f"only {len(recovered)} requests after the last error"
    assert readiness and set(readiness) == {200}, f"/readyz answered {sorted(set(readiness))}"
    states = {u["address"]: u["up"] for u in requests.get(gateway.url + "/readyz", timeout=5).json()["upstreams"]}
    assert states == {first.endpoints.grpc: False, second.endpoints.grpc: True}
    metrics = requests.get(gateway.url + "/metrics", timeout=5).text
    assert f'gateway_upstream_up{{upstream="{first.endpoints.grpc}"}} 0.0' in metrics
    print(
        f"\none of two Tritons killed under load: {len(outcomes)} requests, {len(errors)} errors "
        f"({sorted({o.status for o in errors})}), the last {last_error:.2f} s after the kill; "
        f"{len(after) - len(errors)} successes after it; /readyz 200 in {len(readiness)} probes"
    )


# -- in front of the gateway ---------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(minilm_server: Any, start_gateway: Callable[..., Any]) -> Any:
    """A gateway with short client timeouts, over the session's Triton."""
    return start_gateway(
        triton_url=minilm_server.endpoints.grpc,
        header_timeout_s=2.0,
        body_timeout_s=2.0,
        keep_alive_s=1.0,
        max_body_bytes=1_000_000,
    )


def raw_request(path: str, body: bytes, **headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: gateway", f"Content-Length: {len(body)}"]
    head += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def read_response(sock: socket.socket, timeout: float = 30) -> tuple[int, bytes]:
    """(status, everything read) until the server closes or `timeout`."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    None,
                )
                if length is not None and len(rest) >= length:
                    break
    except (TimeoutError, ConnectionResetError):
        pass
    status = int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1") else 0
    return status, data


def connections(gateway: Any) -> int:
    return len(gateway.server.server_state.connections)


def request_tasks(gateway: Any) -> int:
    return len(gateway.server.server_state.tasks)


def test_clients_that_disconnect_mid_request_leak_nothing(guarded: Any, corpus_sentences: list[str]) -> None:
    """Allowed: nothing fails; the abandoned requests' answers go nowhere."""
    texts = [" ".join(corpus_sentences[i : i + 6]) for i in range(0, 64 * 6, 6)]  # long: seconds of work
    body = json.dumps({"model": "minilm", "input": texts}).encode()
    assert embed(guarded, ["warm"]).status_code == 200
    base_connections = connections(guarded)
    for _ in range(10):
        sock = socket.create_connection(("127.0.0.1", guarded.port))
        sock.sendall(raw_request("/v1/embeddings", body, content_type="application/json"))
        time.sleep(0.2)  # the request reached Triton
        sock.close()
    served = embed(guarded, ["still serving"])
    assert served.status_code == 200
    settled = wait_for(
        lambda: request_tasks(guarded) == 0 and connections(guarded) <= base_connections, 120, "abandoned work ended"
    )
    upstreams = guarded.app.state.backend.upstreams()
    assert [u.in_flight for u in upstreams] == [0] and all(u.up for u in upstreams)
    assert embed(guarded, ["and after"]).status_code == 200
    print(f"\n10 clients gone mid-request: no task or connection left {settled:.1f} s later")


def test_slow_clients_hold_a_socket_not_the_server(guarded: Any) -> None:
    """Allowed: the slow clients are cut off (closed, or 408 for a slow body); others all succeed."""
    base_connections = connections(guarded)
    head = b"POST /v1/embeddings HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
    dribblers = [socket.create_connection(("127.0.0.1", guarded.port)) for _ in range(20)]
    opened = time.monotonic()
    for sock in dribblers:
        sock.sendall(head + b"X-Slow: ")  # a header that never ends, one byte at a time
    slow_body = socket.create_connection(("127.0.0.1", guarded.port))
    slow_body.sendall(head + b"Content-Length: 1000\r\n\r\n" + b'{"model": "minilm", ')
    closed_at: dict[int, float] = {}
    latencies = []
    while len(closed_at) < len(dribblers) and time.monotonic() - opened < 30:
        for number, sock in enumerate(dribblers):
            if number in closed_at:
                continue
            try:
                sock.sendall(b"a")
            except OSError:  # the server closed it (the first send after that may still succeed)
                closed_at[number] = time.monotonic() - opened
        started = time.monotonic()
        assert embed(guarded, ["served while others dribble"]).status_code == 200
        latencies.append(time.monotonic() - started)
        time.sleep(0.2)
    assert len(closed_at) == len(dribblers), "the server kept slowloris connections open"
    status, _ = read_response(slow_body, timeout=10)
    assert status == 408
    for sock in [*dribblers, slow_body]:
        sock.close()
    wait_for(lambda: connections(guarded) <= base_connections, 10, "connections released")
    print(
        f"\n20 slowloris clients closed after {min(closed_at.values()):.1f}-{max(closed_at.values()):.1f} s "
        f"(header timeout 2 s); a slow body got 408; {len(latencies)} other requests served meanwhile, "
        f"slowest {max(latencies) * 1000:.0f} ms"
    )


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (raw_request("/v1/embeddings", b'{"model": "minilm", "input": ["a"', content_type="application/json"), 422),
        (raw_request("/v1/embeddings", b'{"model": "minilm", "input": "a"}', content_type="text/plain"), 422),
        (
            raw_request("/v1/embeddings", b'{"model": "minilm", "input": "\xff\xfe"}', content_type="application/json"),
            400,
        ),
        (
            raw_request(
                "/v1/embeddings",
                b'{"model": "minilm", "input": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
                content_type="application/json",
            ),
            400,
        ),
        (
            b"POST /v1/embeddings HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
            b"Content-Length: 500000000\r\n\r\n{",
            413,
        ),
        (b"GARBAGE / NOT-HTTP\r\n\r\n", 400),
    ],
    ids=[
        "truncated-json",
        "wrong-content-type",
        "invalid-utf8",
        "deeply-nested",
        "huge-body",
        "not-http",
    ],
)
def test_malformed_requests_get_a_clean_4xx_and_the_gateway_keeps_serving(
    guarded: Any, payload: bytes, status: int
) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        try:
            sock.sendall(payload)
        except OSError:
            pass  # the server may refuse before it has read everything: its answer is what counts
        got, data = read_response(sock)
    assert got == status, data[:300]
    assert embed(guarded, ["after a malformed request"]).status_code == 200
    assert status_of(guarded.url + "/readyz") == 200


def test_a_request_head_over_16_kib_is_refused_and_the_gateway_keeps_serving(guarded: Any) -> None:
    """h11 buffers at most 16 KiB of an incomplete head: 400, and the connection closes."""
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: g\r\nX-Big: ")
        sock.settimeout(0.01)
        answered = b""
        for _ in range(100):  # 400 KiB at most, in pieces, until the server answers
            try:
                sock.sendall(b"a" * 4096)
                answered = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if answered:
                break
        _, data = read_response(sock, timeout=10)
    assert (answered + data).startswith(b"HTTP/1.1 400"), (answered + data)[:200]
    assert embed(guarded, ["after a huge head"]).status_code == 200
