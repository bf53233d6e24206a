"""`encoder-triton serve` (the embedded Triton, or the gateway over the in-process runtime) and
`encoder-triton gateway` (HTTP APIs over a running Triton).

Every flag can also come from an `ENCODER_TRITON_<FLAG>` environment variable or a `.env` file
in the working directory; a flag given on the command line wins, then the environment, then
`.env`, then the default (see `gateway.settings`).

Example:
    $ encoder-triton serve --repo model_repository --gateway --models minilm
    $ ENCODER_TRITON_MODELS=minilm encoder-triton serve --engine local
    $ encoder-triton gateway --triton 127.0.0.1:8001 --port 8080
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from encoder_triton.cli._console import fail, user_errors
from encoder_triton.cli._options import DEFAULT_REPO, GATEWAY_PORT, GRPC_PORT, HTTP_PORT, LOCAL_HOST, METRICS_PORT
from encoder_triton.errors import EncoderTritonError
from encoder_triton.export.repository import list_ensembles
from encoder_triton.extras import require_extra
from encoder_triton.gateway import defaults
from encoder_triton.server.embedded import CACHE_SIZE_BYTES, STARTUP_TIMEOUT_S, EmbeddedTriton

REPOSITORY = "Repository"
NETWORK = "Network"
GATEWAY = "Gateway"
STARTUP = "Startup and log"
ENGINE = "Engine"
LIMITS = "Limits"
ACCESS = "Access and log"
#: The help panels of `serve` and of `gateway`, in the order they show.
SERVE_PANELS = (REPOSITORY, NETWORK, GATEWAY, STARTUP)
GATEWAY_PANELS = (ENGINE, NETWORK, LIMITS, ACCESS)

HostOption = Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it private.", rich_help_panel=NETWORK)]


def serve(
    ctx: typer.Context,
    repo: Annotated[
        Path, typer.Option("--repo", help="Triton model repository folder.", rich_help_panel=REPOSITORY)
    ] = DEFAULT_REPO,
    models: Annotated[
        str,
        typer.Option(
            help="Load only these models (comma-separated ensembles, with their steps); all by default.",
            rich_help_panel=REPOSITORY,
        ),
    ] = "",
    engine: Annotated[
        str,
        typer.Option(
            help="triton: the embedded Triton; local: the gateway over the in-process runtime (no Triton).",
            rich_help_panel=REPOSITORY,
        ),
    ] = defaults.ENGINE,
    cache_size: Annotated[
        int,
        typer.Option(help="Response cache bytes (for models exported with --cache).", rich_help_panel=REPOSITORY),
    ] = CACHE_SIZE_BYTES,
    rate_limit: Annotated[
        bool,
        typer.Option(
            help="Schedule executions by the rate-limiter resources models declare.", rich_help_panel=REPOSITORY
        ),
    ] = False,
    host: HostOption = LOCAL_HOST,
    http_port: Annotated[int, typer.Option(help="KServe v2 HTTP port.", rich_help_panel=NETWORK)] = HTTP_PORT,
    grpc_port: Annotated[int, typer.Option(help="KServe v2 gRPC port.", rich_help_panel=NETWORK)] = GRPC_PORT,
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port.", rich_help_panel=NETWORK)] = METRICS_PORT,
    with_gateway: Annotated[
        bool,
        typer.Option("--gateway", help="Also serve the OpenAI/Cohere-style HTTP gateway.", rich_help_panel=GATEWAY),
    ] = False,
    gateway_port: Annotated[
        int, typer.Option(help="Port of the gateway (with --gateway or --engine local).", rich_help_panel=GATEWAY)
    ] = GATEWAY_PORT,
    api_key: Annotated[
        list[str] | None, typer.Option(help="Gateway bearer key (repeat for several).", rich_help_panel=GATEWAY)
    ] = None,
    access_log: Annotated[
        bool, typer.Option(help="The gateway's access log, one line per request.", rich_help_panel=GATEWAY)
    ] = True,
    startup_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for all models to load.", rich_help_panel=STARTUP)
    ] = STARTUP_TIMEOUT_S,
    quiet: Annotated[bool, typer.Option(help="Do not echo Triton's log.", rich_help_panel=STARTUP)] = False,
) -> None:
    """Serve REPO on the embedded Triton (from the nvidia-pytriton wheel) until Ctrl-C.

    With --engine local, serve the same gateway over the in-process runtime instead (macOS,
    Windows, no Triton). Each flag also reads ENCODER_TRITON_<FLAG> and .env.

    Example: encoder-triton serve --repo model_repository --grpc-port 8001 --models minilm
    """
    local = engine == "local" or os.environ.get("ENCODER_TRITON_ENGINE") == "local"
    with user_errors():
        require_extra("gateway" if local else "serve", needed_by="encoder-triton serve")
        if with_gateway:
            require_extra("gateway", needed_by="encoder-triton serve --gateway")
    from encoder_triton.cli._settings import ServeSettings

    names = {name: name for name in ServeSettings.model_fields} | {"with_gateway": "gateway"}
    try:
        settings = ServeSettings(**explicit_flags(ctx, names))
    except ValueError as exc:
        raise fail(f"invalid setting: {exc}") from exc
    if settings.engine == "local":
        _serve_local(settings)
        return
    server = EmbeddedTriton(
        settings.repo,
        host=settings.host,
        http_port=settings.http_port,
        grpc_port=settings.grpc_port,
        metrics_port=settings.metrics_port,
        startup_timeout_s=settings.startup_timeout,
        log=None if settings.quiet else sys.stderr,
        cache_size_bytes=settings.cache_size,
        rate_limit=settings.rate_limit,
        models=settings.models,
    )

    def terminate(signum: int, _: Any) -> None:
        raise KeyboardInterrupt

    # Set both explicitly: a background job of a non-interactive shell starts with SIGINT
    # ignored, and Python then never raises KeyboardInterrupt on Ctrl-C.
    signal.signal(signal.SIGINT, terminate)
    signal.signal(signal.SIGTERM, terminate)
    try:
        endpoints = server.start()
    except EncoderTritonError as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt:
        server.stop()
        raise typer.Exit(130) from None
    try:
        states = server.model_states()
        typer.echo(f"Triton is ready (pid {server.pid}), serving {settings.repo}:")
        for line in describe_models(list_ensembles(settings.repo), states):
            typer.echo(line)
        typer.echo(f"  HTTP     http://{endpoints.http}")
        typer.echo(f"  gRPC     {endpoints.grpc}")
        typer.echo(f"  metrics  {endpoints.metrics}")
        typer.echo("Ctrl-C stops it.")
        if settings.gateway:
            # uvicorn owns the signals while it runs; Triton is stopped when it returns.
            _run_gateway(
                engine="triton",
                triton_url=endpoints.grpc,
                protocol="grpc",
                repo=settings.repo,
                host=settings.host,
                port=settings.gateway_port,
                api_keys=frozenset(settings.api_key),
                access_log=settings.access_log,
            )
            return
        code = server.wait()
        raise fail(f"tritonserver exited unexpectedly with code {code}:\n{server.log_tail(20)}")
    except KeyboardInterrupt:
        typer.echo("Stopping Triton ...", err=True)
    finally:
        server.stop()


def _serve_local(settings: Any) -> None:
    """The gateway over the in-process runtime: the same routes, no Triton."""
    if not settings.repo.is_dir():
        raise fail(f"model repository {settings.repo} does not exist: run `encoder-triton export` first")
    ensembles = [e for e in list_ensembles(settings.repo) if not settings.models or e.name in settings.models]
    missing = sorted(set(settings.models) - {e.name for e in ensembles})
    if missing:
        raise fail(f"models {missing} are not in {settings.repo}")
    typer.echo(f"Serving {settings.repo} in process (engine local, no Triton):")
    for info in ensembles:
        typer.echo(f"  {info.name}  {info.task}  ({info.source_model})")
    _run_gateway(
        engine="local",
        repo=settings.repo,
        models=tuple(settings.models),
        host=settings.host,
        port=settings.gateway_port,
        api_keys=frozenset(settings.api_key),
        access_log=settings.access_log,
    )


def gateway(
    ctx: typer.Context,
    triton: Annotated[
        list[str],
        typer.Option(
            help="Triton host:port (gRPC 8001 by default); repeat for several: the gateway fails over between them.",
            rich_help_panel=ENGINE,
        ),
    ] = [defaults.TRITON_URL],  # noqa: B006 - typer reads the default, nothing mutates it
    protocol: Annotated[
        str, typer.Option(help="How the gateway talks to Triton: grpc or http.", rich_help_panel=ENGINE)
    ] = defaults.PROTOCOL,
    engine: Annotated[
        str, typer.Option(help="triton: a running Triton; local: REPO in process.", rich_help_panel=ENGINE)
    ] = defaults.ENGINE,
    repo: Annotated[
        Path | None,
        typer.Option(
            help="The model repository: what --engine local runs; tokenizers for /tokenize and token ids.",
            rich_help_panel=ENGINE,
        ),
    ] = None,
    probe_interval_s: Annotated[
        float,
        typer.Option("--probe-interval", help="Seconds between health probes of each Triton.", rich_help_panel=ENGINE),
    ] = defaults.PROBE_INTERVAL_S,
    probe_timeout_s: Annotated[
        float,
        typer.Option("--probe-timeout", help="Seconds a health probe may take.", rich_help_panel=ENGINE),
    ] = defaults.PROBE_TIMEOUT_S,
    host: HostOption = LOCAL_HOST,
    port: Annotated[int, typer.Option(help="Port of the gateway.", rich_help_panel=NETWORK)] = GATEWAY_PORT,
    max_inputs: Annotated[int, typer.Option(help="Texts per request (413 beyond).", rich_help_panel=LIMITS)] = (
        defaults.MAX_INPUTS
    ),
    max_request_chars: Annotated[
        int, typer.Option(help="Characters per request (413 beyond).", rich_help_panel=LIMITS)
    ] = defaults.MAX_REQUEST_CHARS,
    max_text_chars: Annotated[
        int, typer.Option(help="Characters per text (413 beyond).", rich_help_panel=LIMITS)
    ] = defaults.MAX_TEXT_CHARS,
    max_body_bytes: Annotated[
        int, typer.Option(help="Request body bytes, refused before parsing (413).", rich_help_panel=LIMITS)
    ] = defaults.MAX_BODY_BYTES,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Seconds per call to Triton (504 after).", rich_help_panel=LIMITS)
    ] = defaults.TIMEOUT_S,
    max_concurrency: Annotated[
        int, typer.Option(help="Calls to Triton in flight per request.", rich_help_panel=LIMITS)
    ] = defaults.MAX_CONCURRENCY,
    max_in_flight: Annotated[
        int, typer.Option(help="Requests worked on at once (429 beyond; 0: no limit).", rich_help_panel=LIMITS)
    ] = defaults.MAX_IN_FLIGHT,
    max_connections: Annotated[
        int, typer.Option(help="Open connections (503 beyond; 0: no limit).", rich_help_panel=LIMITS)
    ] = defaults.MAX_CONNECTIONS,
    keep_alive_s: Annotated[
        float, typer.Option("--keep-alive", help="Seconds an idle connection stays open.", rich_help_panel=LIMITS)
    ] = defaults.KEEP_ALIVE_S,
    header_timeout_s: Annotated[
        float,
        typer.Option("--header-timeout", help="Seconds to send a request's head, else closed.", rich_help_panel=LIMITS),
    ] = defaults.HEADER_TIMEOUT_S,
    body_timeout_s: Annotated[
        float,
        typer.Option("--body-timeout", help="Seconds to send a request's body (408 after).", rich_help_panel=LIMITS),
    ] = defaults.BODY_TIMEOUT_S,
    api_key: Annotated[
        list[str] | None, typer.Option(help="Accepted bearer key (repeat for several).", rich_help_panel=ACCESS)
    ] = None,
    api_keys_file: Annotated[
        Path | None, typer.Option(help="File with one accepted key per line.", rich_help_panel=ACCESS)
    ] = None,
    access_log: Annotated[bool, typer.Option(help="One log line per request.", rich_help_panel=ACCESS)] = True,
) -> None:
    """Serve OpenAI /v1/embeddings, Cohere/Jina /rerank and /classify in front of a running Triton.

    Also llama.cpp's /embedding and /reranking, TEI's /tokenize and the classifier servers'
    /predict; /livez and /readyz for probes. With several --triton it fails over between them.
    Each flag also reads ENCODER_TRITON_<FLAG> (--triton: ENCODER_TRITON_TRITON_URL, commas for
    several; --timeout: ENCODER_TRITON_TIMEOUT_S; --api-key: ENCODER_TRITON_API_KEYS) and .env.

    Example: encoder-triton gateway --triton 127.0.0.1:8001 --port 8080 --api-key "$KEY"
    """
    with user_errors():
        require_extra("gateway", needed_by="encoder-triton gateway")
    names = {name: name for name in GATEWAY_FLAGS} | {"triton": "triton_url"}
    flags = explicit_flags(ctx, names)
    if api_key or api_keys_file:
        flags["api_keys"] = _api_keys(api_key, api_keys_file)
    _run_gateway(**flags)


#: The `gateway` flags whose parameter is named as the setting it sets (`GatewaySettings`).
GATEWAY_FLAGS = (
    "protocol",
    "engine",
    "repo",
    "probe_interval_s",
    "probe_timeout_s",
    "host",
    "port",
    "max_inputs",
    "max_request_chars",
    "max_text_chars",
    "max_body_bytes",
    "timeout_s",
    "max_concurrency",
    "max_in_flight",
    "max_connections",
    "keep_alive_s",
    "header_timeout_s",
    "body_timeout_s",
    "access_log",
)


def explicit_flags(ctx: typer.Context, names: dict[str, str]) -> dict[str, Any]:
    """The flags given on the command line, by settings field (the rest come from the environment)."""
    from encoder_triton.gateway.settings import explicit

    return explicit(ctx, names)


def describe_models(ensembles: list[Any], states: dict[str, dict[str, str]]) -> list[str]:
    """One line per public model (ensemble): state, task, shape, source; then any other model."""
    lines = []
    shown: set[str] = set()
    width = max((len(e.name) for e in ensembles), default=0)
    for info in ensembles:
        parts = [info.name, *info.components]
        shown.update(parts)
        state = states.get(info.name, {}).get("state", "UNKNOWN")
        broken = [
            f"{p} {states.get(p, {}).get('state', 'UNKNOWN')}"
            for p in info.components
            if states.get(p, {}).get("state") != "READY"
        ]
        if info.task == "classify":
            shape = f"{len(info.labels)} labels: {', '.join(info.labels[:6])}{' ...' if len(info.labels) > 6 else ''}"
        elif info.task == "embed":
            shape = f"dim {info.dimension}"
        else:
            shape = "query + documents -> scores"
        line = f"  {info.name:<{width}}  {state:<11} {info.task:<8}  {shape}  ({info.source_model})"
        if broken:
            line += "  [" + "; ".join(broken) + "]"
        lines.append(line)
    others = sorted(set(states) - shown)
    if others:
        lines.append("  other models: " + ", ".join(f"{n} ({states[n]['state']})" for n in others))
    return lines


def _api_keys(keys: list[str] | None, keys_file: Path | None) -> frozenset[str]:
    found = set(keys or ())
    if keys_file is not None:
        found |= {
            line.strip() for line in keys_file.read_text().splitlines() if line.strip() and not line.startswith("#")
        }
    return frozenset(found)


def _run_gateway(**flags: Any) -> None:
    """The gateway, with `flags` over the environment, `.env` and the defaults, until Ctrl-C."""
    import uvicorn

    from encoder_triton.gateway.app import create_app
    from encoder_triton.gateway.http_server import server_config
    from encoder_triton.gateway.request_log import configure_logging
    from encoder_triton.gateway.settings import GatewaySettings

    try:
        settings = GatewaySettings(**flags)
    except ValueError as exc:
        raise fail(f"invalid gateway setting: {exc}") from exc
    if not settings.api_keys and settings.host not in ("127.0.0.1", "localhost", "::1"):
        typer.secho(
            f"warning: the gateway listens on {settings.host} without API keys (--api-key)", fg="yellow", err=True
        )
    configure_logging()
    behind = (
        f"the runtime in process ({settings.repo})"
        if settings.engine == "local"
        else f"Triton {settings.protocol} {', '.join(settings.upstreams)}"
    )
    typer.echo(f"Gateway on http://{settings.host}:{settings.port} (OpenAPI docs at /docs) -> {behind}")
    uvicorn.Server(server_config(create_app(settings), settings)).run()
