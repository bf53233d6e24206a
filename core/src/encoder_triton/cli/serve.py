"""`encoder-triton serve` (the embedded Triton) and `encoder-triton gateway` (HTTP APIs over it).

Example:
    $ encoder-triton serve --repo model_repository --gateway
    $ encoder-triton gateway --triton 127.0.0.1:8001 --port 8080
"""

from __future__ import annotations

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
from encoder_triton.gateway.settings import GatewaySettings
from encoder_triton.server.embedded import CACHE_SIZE_BYTES, STARTUP_TIMEOUT_S, EmbeddedTriton

REPOSITORY = "Repository"
NETWORK = "Network"
GATEWAY = "Gateway"
STARTUP = "Startup and log"
TRITON = "Triton"
ACCESS = "Access"
#: The help panels of `serve` and of `gateway`, in the order they show.
SERVE_PANELS = (REPOSITORY, NETWORK, GATEWAY, STARTUP)
GATEWAY_PANELS = (TRITON, NETWORK, ACCESS)

_GATEWAY = GatewaySettings()

HostOption = Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it private.", rich_help_panel=NETWORK)]


def serve(
    repo: Annotated[
        Path, typer.Option("--repo", help="Triton model repository folder.", rich_help_panel=REPOSITORY)
    ] = DEFAULT_REPO,
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
        int, typer.Option(help="Port of the gateway (with --gateway).", rich_help_panel=GATEWAY)
    ] = GATEWAY_PORT,
    api_key: Annotated[
        list[str] | None, typer.Option(help="Gateway bearer key (repeat for several).", rich_help_panel=GATEWAY)
    ] = None,
    startup_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for all models to load.", rich_help_panel=STARTUP)
    ] = STARTUP_TIMEOUT_S,
    quiet: Annotated[bool, typer.Option(help="Do not echo Triton's log.", rich_help_panel=STARTUP)] = False,
) -> None:
    """Serve REPO on the embedded Triton (from the nvidia-pytriton wheel) until Ctrl-C.

    Example: encoder-triton serve --repo model_repository --grpc-port 8001
    """
    with user_errors():
        require_extra("serve", needed_by="encoder-triton serve")
        if with_gateway:
            require_extra("gateway", needed_by="encoder-triton serve --gateway")
    server = EmbeddedTriton(
        repo,
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        startup_timeout_s=startup_timeout,
        log=None if quiet else sys.stderr,
        cache_size_bytes=cache_size,
        rate_limit=rate_limit,
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
        typer.echo(f"Triton is ready (pid {server.pid}), serving {repo}:")
        for line in describe_models(list_ensembles(repo), states):
            typer.echo(line)
        typer.echo(f"  HTTP     http://{endpoints.http}")
        typer.echo(f"  gRPC     {endpoints.grpc}")
        typer.echo(f"  metrics  {endpoints.metrics}")
        typer.echo("Ctrl-C stops it.")
        if with_gateway:
            # uvicorn owns the signals while it runs; Triton is stopped when it returns.
            _run_gateway(endpoints.grpc, "grpc", host, gateway_port, _api_keys(api_key, None))
            return
        code = server.wait()
        raise fail(f"tritonserver exited unexpectedly with code {code}:\n{server.log_tail(20)}")
    except KeyboardInterrupt:
        typer.echo("Stopping Triton ...", err=True)
    finally:
        server.stop()


def gateway(
    triton: Annotated[
        str, typer.Option(help="Triton host:port (gRPC 8001 by default).", rich_help_panel=TRITON)
    ] = _GATEWAY.triton_url,
    protocol: Annotated[
        str, typer.Option(help="How the gateway talks to Triton: grpc or http.", rich_help_panel=TRITON)
    ] = _GATEWAY.protocol,
    host: HostOption = LOCAL_HOST,
    port: Annotated[int, typer.Option(help="Port of the gateway.", rich_help_panel=NETWORK)] = GATEWAY_PORT,
    api_key: Annotated[
        list[str] | None, typer.Option(help="Accepted bearer key (repeat for several).", rich_help_panel=ACCESS)
    ] = None,
    api_keys_file: Annotated[
        Path | None, typer.Option(help="File with one accepted key per line.", rich_help_panel=ACCESS)
    ] = None,
) -> None:
    """Serve OpenAI /v1/embeddings, Cohere/Jina /rerank and /classify in front of a running Triton.

    Example: encoder-triton gateway --triton 127.0.0.1:8001 --port 8080 --api-key "$KEY"
    """
    with user_errors():
        require_extra("gateway", needed_by="encoder-triton gateway")
    _run_gateway(triton, protocol, host, port, _api_keys(api_key, api_keys_file))


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


def _run_gateway(triton_url: str, protocol: str, host: str, port: int, api_keys: frozenset[str]) -> None:
    import uvicorn

    from encoder_triton.gateway.app import create_app

    if not api_keys and host not in ("127.0.0.1", "localhost", "::1"):
        typer.secho(f"warning: the gateway listens on {host} without API keys (--api-key)", fg="yellow", err=True)
    app = create_app(GatewaySettings(triton_url=triton_url, protocol=protocol, api_keys=api_keys))
    typer.echo(f"Gateway on http://{host}:{port} (OpenAPI docs at /docs) -> Triton {protocol} {triton_url}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
