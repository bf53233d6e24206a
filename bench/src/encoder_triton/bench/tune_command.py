"""`encoder-triton tune`, which this distribution adds to the core command (an entry point in
bench/pyproject.toml, group `encoder_triton.cli_commands`).

The core CLI imports this module at every start to register the command, so it imports only
typer and the tuner's plan (no numpy, no client): the measuring happens inside the command.
Defaults come from `TunePlan`.

Example:
    $ encoder-triton tune model_repository/minilm --p99-ms 250
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from encoder_triton.bench.tuner import KNOBS, TunePlan

LOAD = "Load"
SEARCH = "Search"
OUTPUT = "Output"
#: The help panels of `tune`, in the order they show.
PANELS = (SEARCH, LOAD, OUTPUT)

_PLAN: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TunePlan)}


def tune(
    target: Annotated[Path, typer.Argument(help="MODEL_REPO/NAME of the ensemble, e.g. model_repository/minilm.")],
    p99_ms: Annotated[
        float,
        typer.Option("--p99-ms", help="Latency bound: only points with p99 within it count.", rich_help_panel=SEARCH),
    ],
    knobs: Annotated[
        str | None, typer.Option(help="Comma-separated subset of the knobs to search.", rich_help_panel=SEARCH)
    ] = None,
    passes: Annotated[
        int, typer.Option(help="Coordinate-descent passes over the knobs.", rich_help_panel=SEARCH)
    ] = _PLAN["passes"],
    min_gain: Annotated[
        float, typer.Option(help="A new value must beat the best by this fraction.", rich_help_panel=SEARCH)
    ] = _PLAN["min_gain"],
    concurrency: Annotated[
        str, typer.Option(help="Client concurrency ladder, comma-separated.", rich_help_panel=LOAD)
    ] = ",".join(map(str, _PLAN["concurrency"])),
    batch_size: Annotated[int, typer.Option(help="Texts per request.", rich_help_panel=LOAD)] = _PLAN["batch_size"],
    corpus: Annotated[
        str, typer.Option(help="lee, polarity, bbc, or a file with one text per line.", rich_help_panel=LOAD)
    ] = _PLAN["corpus"],
    window_s: Annotated[float, typer.Option(help="Seconds per measurement window.", rich_help_panel=LOAD)] = _PLAN[
        "window_s"
    ],
    warmup_s: Annotated[float, typer.Option(help="Warm-up seconds before each point.", rich_help_panel=LOAD)] = _PLAN[
        "warmup_s"
    ],
    repeats: Annotated[int, typer.Option(help="Windows per point (the median counts).", rich_help_panel=LOAD)] = _PLAN[
        "repeats"
    ],
    compare: Annotated[
        bool,
        typer.Option(
            help="End with in-process vs pad-to-longest vs token-budget vs tuned, side by side.",
            rich_help_panel=OUTPUT,
        ),
    ] = _PLAN["compare"],
    dry_run: Annotated[bool, typer.Option(help="Measure and report; write no config.", rich_help_panel=OUTPUT)] = False,
    force: Annotated[
        bool,
        typer.Option(help="Write the best config even if the comparison did not confirm it.", rich_help_panel=OUTPUT),
    ] = False,
) -> None:
    """Measure serving configs of MODEL_REPO/NAME on this machine and write the fastest within a p99 bound.

    Searches encoder and tokenizer instances, ORT threads, batching (token budget or pad to
    longest), the token budget, max_queue_delay and max_batch_size, one knob at a time, each
    config on a fresh embedded Triton under real mixed-length traffic. The previous configs are
    kept as config.pbtxt.before-tune-<time>; the measurements go to NAME/tune_report.json and .md.

    Example: encoder-triton tune model_repository/minilm --p99-ms 250
    """
    from encoder_triton.bench.errors import BenchError
    from encoder_triton.bench.tuner import tune as run_tune
    from encoder_triton.errors import EncoderTritonError

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
    try:
        report = run_tune(repo, name, plan, write=not dry_run, force=force, say=typer.echo)
    except (BenchError, EncoderTritonError) as exc:
        raise _fail(str(exc)) from exc
    decision = report["decision"]
    typer.echo(f"\n{decision['config']}: {decision['reason']}")
    for row in (report.get("comparison") or {}).get("rows", []):
        p99 = f", p99 {row['p99_ms']:.0f} ms" if row.get("p99_ms") is not None else ""
        ratio = row.get("vs_in_process_pad_to_longest")
        times = f"  ({ratio:.2f}x in-process pad-to-longest)" if ratio else ""
        typer.echo(f"  {row['name']:<28} {row['texts_per_s']:8.1f} texts/s{p99}{times}")
    typer.echo(f"Report: {target / 'tune_report.md'}")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)
