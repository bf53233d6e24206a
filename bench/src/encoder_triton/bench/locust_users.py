"""Locust users for encoder-triton deployments, over Triton gRPC or HTTP, or through the gateway.

Locust's pattern for clients that are not HTTP sessions (its `custom_xmlrpc_client` example):
an abstract `TritonUser` wraps our `EncoderClient` and fires `environment.events.request` for
every call, so locust's statistics, CSV/JSON output and web UI work unchanged. One user class
per task:

    EmbedUser     client.embed(texts)
    ClassifyUser  client.classify(texts, top_k=...)
    RerankUser    client.rerank(query, documents, top_k=...)

The host picks the protocol: `grpc://127.0.0.1:8001` (the default) or `http://127.0.0.1:8000`.
Through the gateway's HTTP API (host `http://127.0.0.1:8080`), `GatewayEmbedUser`,
`GatewayClassifyUser` and `GatewayRerankUser` send the same payloads as JSON (locust's fast
HTTP client; `--api-key` for a gateway with keys) and check that every answer has its rows.
Payloads come from `workload` (real corpus, long-tailed lengths, fixed seed). When the run
ends, a quitting listener checks `thresholds` (`--max-error-rate`, `--max-p99-ms`) and sets
locust's exit code: 0 when they hold, 1 when one is broken, so a CI step can gate on it.
`--max-requests` bounds a run by count as `--run-time` bounds it by time. `--shed-statuses
429,503` makes an overload test: those answers are failures (`ShedError`) in locust's
statistics, but not errors for `--max-error-rate`, so `--max-error-rate 0` passes only when
every other request succeeded.

Importing this module imports locust, which monkey-patches the process with gevent: only
locust itself should load it. `encoder-triton-bench locust` runs it in a child process.

Example:
    $ encoder-triton-bench locust --task embed --users 8 --run-time 30s --host grpc://127.0.0.1:8001
    $ encoder-triton-bench locust --via gateway --host http://127.0.0.1:8080 --users 8 --run-time 30s
    $ locust -f "$(python -c 'import encoder_triton.bench.locust_users as m; print(m.__file__)')" \\
        --headless -u 8 -r 8 -t 30s --host http://127.0.0.1:8000 --model minilm EmbedUser
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import time
from typing import Any

import gevent
from locust import FastHttpUser, User, constant, constant_throughput, events, task
from locust.exception import StopUser

# After locust's monkey-patching and before any gRPC channel exists: gRPC's core must
# cooperate with gevent, or its blocking calls stall every other user.
from grpc.experimental import gevent as grpc_gevent  # isort: skip

grpc_gevent.init_gevent()

from encoder_triton.bench.errors import ShedError  # noqa: E402
from encoder_triton.bench.thresholds import Thresholds  # noqa: E402
from encoder_triton.bench.workload import Workload, build_workload  # noqa: E402
from encoder_triton.client import EncoderClient  # noqa: E402

log = logging.getLogger("encoder_triton.bench")

DEFAULT_HOST = "grpc://127.0.0.1:8001"


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("encoder-triton")
    group.add_argument("--model", default="minilm", help="Served model (ensemble) name.")
    group.add_argument("--batch-size", type=int, default=1, help="Texts (or documents) per request.")
    group.add_argument("--corpus", default="lee", help="lee, polarity, bbc, or a file with one text per line.")
    group.add_argument("--seed", type=int, default=0, help="Seed of the payload sampler.")
    group.add_argument("--top-k", type=int, default=None, help="top_k for classify and rerank.")
    group.add_argument("--request-timeout", type=float, default=60.0, help="Client timeout per request, seconds.")
    group.add_argument(
        "--throughput-per-user",
        type=float,
        default=0.0,
        help="Requests/s each user aims at (paced open-ish load, e.g. a soak at 70%% of capacity); 0 = back to back.",
    )
    group.add_argument("--max-error-rate", type=float, default=0.01, help="Fail (exit 1) above this error fraction.")
    group.add_argument("--max-p99-ms", type=float, default=None, help="Fail (exit 1) above this p99 latency.")
    group.add_argument("--max-requests", type=int, default=None, help="Stop after this many requests.")
    group.add_argument("--api-key", default="", help="Gateway users: the bearer key, when the gateway has keys.")
    group.add_argument(
        "--shed-statuses",
        default="",
        help="Gateway users: statuses that count as shed, not as errors (an overload test: 429,503).",
    )


def split_host(host: str | None) -> tuple[str, str]:
    """(protocol, host:port) from `grpc://h:p`, `http://h:p` or `h:p` (gRPC)."""
    host = host or DEFAULT_HOST
    scheme, sep, rest = host.partition("://")
    if not sep:
        return "grpc", host
    if scheme not in ("grpc", "http"):
        raise ValueError(f"host scheme must be grpc:// or http://, got {host!r}")
    return scheme, rest.rstrip("/")


_workloads: dict[tuple[Any, ...], Workload] = {}


def _workload(environment: Any, task_name: str) -> Workload:
    options = environment.parsed_options
    key = (task_name, options.model, options.batch_size, options.corpus, options.seed, options.top_k)
    if key not in _workloads:  # sampled once per process, shared by all users of a task
        _workloads[key] = build_workload(
            task_name,
            model=options.model,
            batch_size=options.batch_size,
            corpus=options.corpus,
            seed=options.seed,
            top_k=options.top_k,
        )
    return _workloads[key]


class TritonUser(User):
    """One simulated client with its own connection, sending requests back to back."""

    abstract = True
    host = DEFAULT_HOST
    task_name = "embed"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.protocol, self.address = split_host(self.host)
        options = environment.parsed_options
        self.client = EncoderClient(self.address, protocol=self.protocol, timeout=options.request_timeout)  # type: ignore[arg-type]
        self.workload = _workload(environment, self.task_name)
        self.cursor = id(self) % len(self.workload.texts)  # users start at different texts
        self.request_name = f"{self.task_name} {self.workload.model} b={self.workload.batch_size}"
        self._pace = _pace(environment)

    def wait_time(self) -> float:
        return float(self._pace(self))

    def on_start(self) -> None:
        try:
            self.workload.check_client(self.client)
        except NotImplementedError as exc:
            self._fire(0.0, 0, exc)
            raise StopUser() from exc

    def on_stop(self) -> None:
        self.client.close()

    def send(self) -> None:
        started = time.perf_counter()
        texts, error = 0, None
        try:
            texts = self.workload.call(self.client, self.cursor)
        except Exception as exc:  # noqa: BLE001 - locust records every failure by its type and message
            error = exc
        self.cursor += self.workload.batch_size
        self._fire((time.perf_counter() - started) * 1000.0, texts, error)

    def _fire(self, elapsed_ms: float, texts: int, error: BaseException | None) -> None:
        self.environment.events.request.fire(
            request_type=self.protocol,
            name=self.request_name,
            response_time=elapsed_ms,
            response_length=texts,  # texts carried, not bytes: locust sums it per request name
            exception=error,
            context={"task": self.task_name},
        )


def _pace(environment: Any) -> Any:
    rate = float(getattr(environment.parsed_options, "throughput_per_user", 0.0) or 0.0)
    # Back to back by default; --throughput-per-user paces each user (locust's own pacer).
    return constant_throughput(rate) if rate > 0 else constant(0)


class GatewayUser(FastHttpUser):
    """One client of the gateway's HTTP API (its own keep-alive connection), same payloads."""

    abstract = True
    host = "http://127.0.0.1:8080"
    task_name = "embed"

    def __init__(self, environment: Any) -> None:
        options = environment.parsed_options
        # Read by FastHttpUser.__init__ when it makes the connection.
        self.network_timeout = self.connection_timeout = float(options.request_timeout)
        super().__init__(environment)
        self.workload = _workload(environment, self.task_name)
        self.cursor = id(self) % len(self.workload.texts)
        self.request_name = f"gateway {self.task_name} {self.workload.model} b={self.workload.batch_size}"
        self.headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}
        self.shed_statuses = {int(s) for s in str(options.shed_statuses or "").split(",") if s.strip()}
        self._pace = _pace(environment)

    def wait_time(self) -> float:
        return float(self._pace(self))

    def send(self) -> None:
        path, body = self.workload.gateway_request(self.cursor)
        self.cursor += self.workload.batch_size
        with self.client.post(
            path, json=body, headers=self.headers, name=self.request_name, catch_response=True
        ) as response:
            if response.status_code == 200:
                rows = self.workload.answered_rows(path, response.json())
                expected = len(body.get("input", body.get("documents", [])))
                if path == "/rerank" and self.workload.top_k is not None:
                    expected = min(expected, self.workload.top_k)
                if rows == expected:
                    response.success()
                else:
                    response.failure(f"an answer with {rows} rows for {expected}")
            elif response.status_code in self.shed_statuses:
                response.failure(ShedError(f"shed with {response.status_code}"))
            else:
                response.failure(f"HTTP {response.status_code}: {response.text[:200] if response.text else ''}")


class GatewayEmbedUser(GatewayUser):
    task_name = "embed"

    @task
    def embed(self) -> None:
        self.send()


class GatewayClassifyUser(GatewayUser):
    task_name = "classify"

    @task
    def classify(self) -> None:
        self.send()


class GatewayRerankUser(GatewayUser):
    task_name = "rerank"

    @task
    def rerank(self) -> None:
        self.send()


class EmbedUser(TritonUser):
    task_name = "embed"

    @task
    def embed(self) -> None:
        self.send()


class ClassifyUser(TritonUser):
    task_name = "classify"

    @task
    def classify(self) -> None:
        self.send()


class RerankUser(TritonUser):
    task_name = "rerank"

    @task
    def rerank(self) -> None:
        self.send()


_environment: list[Any] = []


@events.init.add_listener
def _remember_environment(environment: Any, **_: Any) -> None:
    _environment.append(environment)


_counted = {"requests": 0, "shed": 0, "stopping": False}


@events.request.add_listener
def _bound_by_count(exception: BaseException | None = None, **_: Any) -> None:
    _counted["requests"] += 1
    if isinstance(exception, ShedError):
        _counted["shed"] += 1
    environment = _environment[0] if _environment else None
    limit = getattr(getattr(environment, "parsed_options", None), "max_requests", None)
    runner = getattr(environment, "runner", None)
    if limit and _counted["requests"] >= limit and not _counted["stopping"] and runner is not None:
        _counted["stopping"] = True
        # Not from inside the request's greenlet: quitting kills the users, this one included.
        gevent.spawn(runner.quit)


@events.quitting.add_listener
def _check_thresholds(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    total = environment.stats.total
    p99 = total.get_response_time_percentile(0.99) if total.num_requests else None
    limits = Thresholds(max_error_rate=options.max_error_rate, max_p99_ms=options.max_p99_ms)
    shed = int(_counted["shed"])
    broken = limits.violations(requests=total.num_requests, failures=total.num_failures, p99_ms=p99, shed=shed)
    for sentence in broken:
        log.error("threshold broken: %s", sentence)
    if not broken:
        log.info(
            "thresholds hold: %d requests, %d failed (%d of them shed), p99 %s ms",
            total.num_requests,
            total.num_failures,
            shed,
            p99,
        )
    environment.process_exit_code = 1 if broken else 0


@events.quit.add_listener
def _exit_without_finalizers(exit_code: int, **_: Any) -> None:
    """Leave with locust's exit code once its reports are written, skipping interpreter teardown.

    Why: at teardown the garbage collector runs tritonclient's `__del__`, which closes the gRPC
    channel a second time, and under gRPC's gevent mode that can deadlock on a cygrpc mutex
    (seen as a locust that printed "Shutting down" and never exited). Registered now, the
    handler runs first among atexit handlers (last in, first out), after locust's own
    `sys.exit` has closed its CSV files.
    """

    def leave() -> None:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)

    atexit.register(leave)
