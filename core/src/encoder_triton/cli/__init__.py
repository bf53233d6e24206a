"""The `encoder-triton` command: export a model, serve a repository, query it.

Example:
    $ encoder-triton export sentence-transformers/all-MiniLM-L6-v2 --name minilm
    $ encoder-triton export cross-encoder/ms-marco-MiniLM-L-6-v2 --name reranker
    $ encoder-triton serve --repo model_repository
    $ encoder-triton embed "hello world" --model minilm
    $ encoder-triton rerank "what is triton" "Triton serves models." "Cats sleep a lot." --model reranker
"""

from __future__ import annotations

import contextlib
import enum
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from encoder_triton.contract import Batching, Precision, Task  # standard library only: keeps the CLI fast
from encoder_triton.export.precision.execution import ArtifactFormat, Backend, Device, Optimize  # light, too

app = typer.Typer(
    help="Serve Hugging Face encoders (embedders, rerankers, classifiers) on NVIDIA Triton.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RepoOption = Annotated[Path, typer.Option("--repo", help="Triton model repository folder.")]
UrlOption = Annotated[str, typer.Option(help="Triton host:port.")]
ProtocolOption = Annotated[str, typer.Option(help="grpc or http.")]


class Int8Calibration(str, enum.Enum):
    """How int8 activations get their ranges (see export/precision/int8.py)."""

    DYNAMIC = "dynamic"
    STATIC = "static"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Hugging Face hub id or local model folder.")],
    repo: RepoOption = Path("model_repository"),
    name: Annotated[str | None, typer.Option(help="Name of the served model (default: from MODEL).")] = None,
    task: Annotated[
        Task | None, typer.Option(help="What the model serves (default: detected from the model's files).")
    ] = None,
    max_length: Annotated[int | None, typer.Option(help="Token limit per text; longer texts are truncated.")] = None,
    max_batch_size: Annotated[int, typer.Option(help="Most texts per request and per dynamic batch.")] = 64,
    instances: Annotated[int, typer.Option(help="Encoder instances (ONNX Runtime sessions).")] = 1,
    max_queue_delay_us: Annotated[int, typer.Option(help="How long the dynamic batcher waits to fill a batch.")] = 2000,
    max_batch_tokens: Annotated[int, typer.Option(help="Padded-token budget of one encoder sub-batch.")] = 8192,
    batching: Annotated[
        Batching,
        typer.Option(help="Encoder rows: length-sorted sub-batches under the token budget, or pad to the longest."),
    ] = Batching.TOKEN_BUDGET,
    tokenizer_instances: Annotated[int, typer.Option(help="Tokenizer instances (python stubs).")] = 1,
    preferred_batch_size: Annotated[
        list[int] | None, typer.Option(help="Batch sizes the batcher prefers (repeat the option).")
    ] = None,
    max_queue_size: Annotated[
        int | None, typer.Option(help="Queue bound per step; past it requests get 503/UNAVAILABLE at once.")
    ] = None,
    queue_timeout_us: Annotated[
        int | None, typer.Option(help="Reject requests that waited longer than this in a queue.")
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="Response cache on the ensemble (repeated texts skip the model).")
    ] = False,
    warmup: Annotated[bool, typer.Option(help="Run a real text through both steps when the models load.")] = True,
    rate_limit_resource: Annotated[
        list[str] | None, typer.Option(help="NAME:COUNT held by each encoder execution (serve --rate-limit).")
    ] = None,
    max_chars: Annotated[int, typer.Option(help="Most characters per text, checked before tokenisation.")] = 1_000_000,
    truncate: Annotated[
        bool, typer.Option(help="Truncate texts over --max-length tokens (--no-truncate: reject them).")
    ] = True,
    # -- precision and engines: see export/precision/build.py --
    precision: Annotated[
        Precision, typer.Option(help="Served precision: fp32, int8 (CPU) or fp16 (GPU); gated against PyTorch.")
    ] = Precision.FP32,
    artifact_format: Annotated[
        ArtifactFormat, typer.Option("--format", help="onnx, or a tensorrt engine (needs a GPU and TensorRT 10).")
    ] = ArtifactFormat.ONNX,
    optimize: Annotated[
        Optimize, typer.Option(help="ONNX Runtime transformer fusions offline; auto: for int8 and fp16.")
    ] = Optimize.AUTO,
    backend: Annotated[
        Backend, typer.Option(help="python (portable), or native: Triton's onnxruntime / tensorrt_plan backend.")
    ] = Backend.PYTHON,
    device: Annotated[
        Device | None, typer.Option(help="Encoder instance kind (default: gpu for fp16 and tensorrt, else cpu).")
    ] = None,
    gpu_providers: Annotated[
        str, typer.Option(help="ONNX Runtime providers of GPU instances, best first: cuda or tensorrt,cuda.")
    ] = "cuda",
    accept_degraded: Annotated[
        bool, typer.Option(help="Export even below the precision's fidelity bounds (recorded in the report).")
    ] = False,
    int8_calibration: Annotated[
        Int8Calibration,
        typer.Option(help="int8: dynamic per-channel, or static QDQ with MinMax ranges from the calibration texts."),
    ] = Int8Calibration.DYNAMIC,
    calibration_texts: Annotated[
        Path | None,
        typer.Option(help="Texts for int8 calibration: one per line, or JSON lines with a text (default: built-in)."),
    ] = None,
    validation_texts: Annotated[
        Path | None,
        typer.Option(
            help="Texts the export is gated on: one per line, or JSON lines {text, label?, query?} (default: built-in)."
        ),
    ] = None,
    int8_headroom: Annotated[
        float, typer.Option(help="int8: share of the gate's allowed mean error the calibration texts may use.")
    ] = 0.5,
    int8_search: Annotated[
        bool,
        typer.Option(help="int8: if calibration misses the bounds, keep the noisiest nodes in fp32 (at most 4 tries)."),
    ] = True,
    int8_outliers: Annotated[
        bool,
        typer.Option(help="int8 dynamic: balance LayerNorm-output channels and split activation spikes to fp32."),
    ] = True,
    plan_cache: Annotated[
        Path | None, typer.Option(help="TensorRT engine cache (default: $ENCODER_TRITON_CACHE/tensorrt).")
    ] = None,
) -> None:
    """Export MODEL to ONNX, validate it against PyTorch and write a Triton ensemble into REPO.

    The task (embed, classify or rerank) is detected from the model's files unless --task is given.
    Every export also gates the served artefact (its precision and engine) against PyTorch and
    writes export_report.json beside it.

    Example: encoder-triton export sentence-transformers/all-MiniLM-L6-v2 --name minilm

    Example: encoder-triton export sentence-transformers/all-MiniLM-L6-v2 --name minilm_int8 --precision int8
    """
    from rich.console import Console

    from encoder_triton.export.errors import ExportError
    from encoder_triton.export.pipeline import export_model
    from encoder_triton.export.precision.build import BuildOptions
    from encoder_triton.export.precision.calibration import load_calibration_texts
    from encoder_triton.export.precision.int8 import Int8Options
    from encoder_triton.export.repository.writer import ServingOptions
    from encoder_triton.export.user_texts import read_texts
    from encoder_triton.runtime.providers import parse_preference

    console = Console(stderr=True)

    @contextlib.contextmanager
    def progress(description: str) -> Iterator[Any]:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        started = time.perf_counter()
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description + " ...", total=None)  # a pulse until a step reports

            def advance(step: str, done: int, total: int) -> None:
                bar.update(task, description=f"{description}: {step}", completed=done, total=total)

            yield advance
        console.print(f"[green]✓[/green] {description} [dim]({time.perf_counter() - started:.1f} s)[/dim]")

    try:
        options = ServingOptions(
            max_batch_size=max_batch_size,
            instances=instances,
            tokenizer_instances=tokenizer_instances,
            max_queue_delay_us=max_queue_delay_us,
            max_batch_tokens=max_batch_tokens,
            batching=batching,
            preferred_batch_sizes=tuple(preferred_batch_size or ()),
            max_queue_size=max_queue_size,
            queue_timeout_us=queue_timeout_us,
            response_cache=cache,
            warmup=warmup,
            rate_limiter_resources=tuple(_resource(r) for r in rate_limit_resource or ()),
            max_chars=max_chars,
            truncate=truncate,
        )
        build = BuildOptions(
            precision=precision,
            format=artifact_format,
            optimize=optimize,
            backend=backend,
            device=device,
            gpu_providers=parse_preference(gpu_providers),
            accept_degraded=accept_degraded,
            int8=Int8Options(
                mode=int8_calibration.value, headroom=int8_headroom, search=int8_search, outlier_split=int8_outliers
            ),
            calibration_texts=load_calibration_texts(calibration_texts) if calibration_texts else None,
            validation_texts=read_texts(validation_texts) if validation_texts else None,
            tensorrt_cache_dir=plan_cache,
        )
        result = export_model(
            model,
            repo=repo,
            name=name,
            task=task,
            max_length=max_length,
            options=options,
            progress=progress,
            build=build,
        )
    except (ExportError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    fidelity = result.fidelity
    if fidelity.threshold_max_abs_error is None:
        agreement = f"min cosine to PyTorch {fidelity.min_cosine:.6f}"
    else:
        agreement = f"max abs error to PyTorch {fidelity.max_abs_error:.1e}"
    console.print(
        f"Exported [bold]{result.name}[/bold] ({result.task.value}): {agreement} "
        f"over {fidelity.texts} {'pairs' if result.task == Task.RERANK else 'texts'}, "
        f"in {sum(result.timings_s.values()):.1f} s"
    )
    if result.gate is not None:
        console.print(f"  served {result.gate.summary()}")
    for folder in result.model_dirs:
        console.print(f"  {folder}")


def _resource(spec: str) -> tuple[str, int]:
    name, _, count = spec.partition(":")
    if not name or not count.isdigit():
        raise ValueError(f"--rate-limit-resource takes NAME:COUNT, got {spec!r}")
    return name, int(count)


@app.command()
def serve(
    repo: RepoOption = Path("model_repository"),
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it private.")] = "127.0.0.1",
    http_port: Annotated[int, typer.Option(help="KServe v2 HTTP port.")] = 8000,
    grpc_port: Annotated[int, typer.Option(help="KServe v2 gRPC port.")] = 8001,
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port.")] = 8002,
    quiet: Annotated[bool, typer.Option(help="Do not echo Triton's log.")] = False,
    startup_timeout: Annotated[float, typer.Option(help="Seconds to wait for all models to load.")] = 180.0,
    cache_size: Annotated[int, typer.Option(help="Response cache bytes (for models exported with --cache).")] = 256
    * 1024
    * 1024,
    rate_limit: Annotated[
        bool, typer.Option(help="Schedule executions by the rate-limiter resources models declare.")
    ] = False,
    with_gateway: Annotated[
        bool, typer.Option("--gateway", help="Also serve the OpenAI/Cohere-style HTTP gateway.")
    ] = False,
    gateway_port: Annotated[int, typer.Option(help="Port of the gateway (with --gateway).")] = 8080,
    api_key: Annotated[list[str] | None, typer.Option(help="Gateway bearer key (repeat for several).")] = None,
) -> None:
    """Serve REPO on the embedded Triton (from the nvidia-pytriton wheel) until Ctrl-C.

    Example: encoder-triton serve --repo model_repository --grpc-port 8001
    """
    from encoder_triton.export.repository.writer import list_ensembles
    from encoder_triton.server.embedded import EmbeddedTriton, EmbeddedTritonError

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
    except EmbeddedTritonError as exc:
        raise _fail(str(exc)) from exc
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
        raise _fail(f"tritonserver exited unexpectedly with code {code}:\n{server.log_tail(20)}")
    except KeyboardInterrupt:
        typer.echo("Stopping Triton ...", err=True)
    finally:
        server.stop()


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

    from encoder_triton.gateway.app import GatewaySettings, create_app

    if not api_keys and host not in ("127.0.0.1", "localhost", "::1"):
        typer.secho(f"warning: the gateway listens on {host} without API keys (--api-key)", fg="yellow", err=True)
    app = create_app(GatewaySettings(triton_url=triton_url, protocol=protocol, api_keys=api_keys))
    typer.echo(f"Gateway on http://{host}:{port} (OpenAPI docs at /docs) -> Triton {protocol} {triton_url}")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@app.command()
def gateway(
    triton: Annotated[str, typer.Option(help="Triton host:port (gRPC 8001 by default).")] = "127.0.0.1:8001",
    protocol: Annotated[str, typer.Option(help="How the gateway talks to Triton: grpc or http.")] = "grpc",
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it private.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the gateway.")] = 8080,
    api_key: Annotated[list[str] | None, typer.Option(help="Accepted bearer key (repeat for several).")] = None,
    api_keys_file: Annotated[Path | None, typer.Option(help="File with one accepted key per line.")] = None,
) -> None:
    """Serve OpenAI /v1/embeddings, Cohere/Jina /rerank and /classify in front of a running Triton.

    Example: encoder-triton gateway --triton 127.0.0.1:8001 --port 8080 --api-key "$KEY"
    """
    _run_gateway(triton, protocol, host, port, _api_keys(api_key, api_keys_file))


@app.command()
def tune(
    target: Annotated[Path, typer.Argument(help="MODEL_REPO/NAME of the ensemble, e.g. model_repository/minilm.")],
    p99_ms: Annotated[float, typer.Option("--p99-ms", help="Latency bound: only points with p99 within it count.")],
    concurrency: Annotated[str, typer.Option(help="Client concurrency ladder, comma-separated.")] = "8,32,64",
    batch_size: Annotated[int, typer.Option(help="Texts per request.")] = 1,
    corpus: Annotated[str, typer.Option(help="lee, polarity, bbc, or a file with one text per line.")] = "lee",
    window_s: Annotated[float, typer.Option(help="Seconds per measurement window.")] = 4.0,
    warmup_s: Annotated[float, typer.Option(help="Warm-up seconds before each point.")] = 2.0,
    repeats: Annotated[int, typer.Option(help="Windows per point (the median counts).")] = 2,
    passes: Annotated[int, typer.Option(help="Coordinate-descent passes over the knobs.")] = 1,
    knobs: Annotated[str | None, typer.Option(help="Comma-separated subset of the knobs to search.")] = None,
    min_gain: Annotated[float, typer.Option(help="A new value must beat the best by this fraction.")] = 0.03,
    compare: Annotated[
        bool, typer.Option(help="End with in-process vs pad-to-longest vs token-budget vs tuned, side by side.")
    ] = True,
    dry_run: Annotated[bool, typer.Option(help="Measure and report; write no config.")] = False,
    force: Annotated[bool, typer.Option(help="Write the best config even if the comparison did not confirm it.")] = (
        False
    ),
) -> None:
    """Measure serving configs of MODEL_REPO/NAME on this machine and write the fastest within a p99 bound.

    Searches encoder and tokenizer instances, ORT threads, batching (token budget or pad to
    longest), the token budget, max_queue_delay and max_batch_size, one knob at a time, each
    config on a fresh embedded Triton under real mixed-length traffic. The previous configs are
    kept as config.pbtxt.before-tune-<time>; the measurements go to NAME/tune_report.json and .md.

    Example: encoder-triton tune model_repository/minilm --p99-ms 250
    """
    try:
        from encoder_triton.bench.tuner import KNOBS, TunePlan
        from encoder_triton.bench.tuner import tune as run_tune
    except ImportError as exc:
        raise _fail(f"tune needs the bench package: pip install encoder-triton-bench ({exc})") from exc
    repo, name = target.parent, target.name
    if not (target / "config.pbtxt").is_file():
        raise _fail(f"{target}/config.pbtxt not found: give MODEL_REPO/NAME of an exported ensemble")
    try:
        plan = TunePlan(
            p99_ms=p99_ms,
            concurrency=tuple(int(c) for c in concurrency.split(",") if c.strip()),
            batch_size=batch_size,
            corpus=corpus,
            window_s=window_s,
            warmup_s=warmup_s,
            repeats=repeats,
            passes=passes,
            min_gain=min_gain,
            knobs=tuple(k.strip() for k in knobs.split(",")) if knobs else KNOBS,
            compare=compare,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"Tuning {name} in {repo} (about {plan.estimate_s(14) / 60:.0f} min on this machine)")
    report = run_tune(repo, name, plan, write=not dry_run, force=force, say=typer.echo)
    decision = report["decision"]
    typer.echo(f"\n{decision['config']}: {decision['reason']}")
    for row in (report.get("comparison") or {}).get("rows", []):
        p99 = f", p99 {row['p99_ms']:.0f} ms" if row.get("p99_ms") is not None else ""
        ratio = row.get("vs_in_process_pad_to_longest")
        times = f"  ({ratio:.2f}x in-process pad-to-longest)" if ratio else ""
        typer.echo(f"  {row['name']:<28} {row['texts_per_s']:8.1f} texts/s{p99}{times}")
    typer.echo(f"Report: {target / 'tune_report.md'}")


@app.command()
def embed(
    texts: Annotated[list[str], typer.Argument(help="Texts to embed.")],
    model: Annotated[str, typer.Option(help="Served model name.")] = "minilm",
    url: UrlOption = "127.0.0.1:8001",
    protocol: ProtocolOption = "grpc",
) -> None:
    """Embed TEXTS on a running server and print each vector's head and the cosine similarities.

    Example: encoder-triton embed "A man is eating food." "A man eats." --model minilm
    """
    import numpy as np

    from encoder_triton.client import EncoderClient, EncoderError

    try:
        with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
            vectors = client.embed(texts, model=model).vectors
    except EncoderError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    typer.echo(f"{len(texts)} embeddings of dimension {vectors.shape[1]} from {model} at {url}")
    for text, vector in zip(texts, vectors, strict=True):
        head = " ".join(f"{v:+.4f}" for v in vector[:4])
        typer.echo(f"  [{head} ...] |v|={np.linalg.norm(vector):.4f}  {text[:60]!r}")
    if len(texts) > 1:
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        typer.echo("cosine similarity:")
        for i, row in enumerate(unit @ unit.T):
            typer.echo(f"  {i}: " + " ".join(f"{v:.3f}" for v in row))


@app.command()
def classify(
    texts: Annotated[list[str], typer.Argument(help="Texts to classify.")],
    model: Annotated[str, typer.Option(help="Served classifier name.")] = "classifier",
    top_k: Annotated[int, typer.Option(help="Labels to show per text.")] = 3,
    url: UrlOption = "127.0.0.1:8001",
    protocol: ProtocolOption = "grpc",
) -> None:
    """Classify TEXTS on a running server and print the top labels of each.

    Example: encoder-triton classify "Shares fell 5% on Monday." --model bbc_news
    """
    from encoder_triton.client import EncoderClient, EncoderError

    try:
        with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
            result = client.classify(texts, model=model, top_k=top_k)
    except EncoderError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    for text, labels, scores in zip(texts, result.top_labels, result.top_scores, strict=True):
        ranked = "  ".join(f"{label} {score:.3f}" for label, score in zip(labels, scores, strict=True))
        typer.echo(f"{ranked}  {text[:60]!r}")


@app.command()
def rerank(
    query: Annotated[str, typer.Argument(help="The query.")],
    documents: Annotated[list[str], typer.Argument(help="Documents to rank against the query.")],
    model: Annotated[str, typer.Option(help="Served reranker name.")] = "reranker",
    top_k: Annotated[int | None, typer.Option(help="Keep the best K documents.")] = None,
    url: UrlOption = "127.0.0.1:8001",
    protocol: ProtocolOption = "grpc",
) -> None:
    """Rank DOCUMENTS by relevance to QUERY on a running server, best first.

    Example: encoder-triton rerank "what is triton" "Triton serves models." "Cats sleep." --model reranker
    """
    from encoder_triton.client import EncoderClient, EncoderError

    try:
        with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
            result = client.rerank(query, documents, model=model, top_k=top_k, return_documents=True)
    except EncoderError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    assert result.documents is not None
    for rank, (index, score, document) in enumerate(zip(result.indices, result.scores, result.documents, strict=True)):
        typer.echo(f"{rank + 1:>3}. {score:.4f}  [{index}] {document[:70]!r}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
