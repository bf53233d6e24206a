"""`encoder-triton export`: a Hugging Face encoder in, a validated Triton ensemble out.

The options are grouped in the help by what they change (the panels below); every default is
read from the dataclass that owns it (`ServingOptions`, `BuildOptions`, `Int8Options`), so the
help always shows what an export without the flag does.

Example:
    $ encoder-triton export sentence-transformers/all-MiniLM-L6-v2 --name minilm --precision int8
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from encoder_triton.cli._console import step_progress, user_errors
from encoder_triton.cli._options import DEFAULT_REPO
from encoder_triton.contract import Batching, LongInputs, Precision, Task
from encoder_triton.export.precision.build import BuildOptions
from encoder_triton.export.precision.execution import ArtifactFormat, Backend, Device, Optimize
from encoder_triton.export.precision.int8 import Int8Options
from encoder_triton.export.repository import ServingOptions
from encoder_triton.extras import require_extra

MODEL = "Model"
BATCHING = "Batching and placement"
LIMITS = "Limits and load shedding"
PRECISION = "Precision"
INT8 = "int8"
TENSORRT = "TensorRT"
OUTPUT = "Output"
#: The help panels of `export`, in the order they show.
PANELS = (MODEL, BATCHING, LIMITS, PRECISION, INT8, TENSORRT, OUTPUT)

_SERVING = ServingOptions()
_BUILD = BuildOptions()
_INT8 = Int8Options()


class Int8Calibration(str, enum.Enum):
    """How int8 activations get their ranges (see export/precision/int8.py)."""

    DYNAMIC = "dynamic"
    STATIC = "static"


_INT8_CALIBRATION = Int8Calibration(_INT8.mode)
#: The command line spells the provider preference "tensorrt,cuda".
_GPU_PROVIDERS = ",".join(_BUILD.gpu_providers)


def export(
    model: Annotated[str, typer.Argument(help="Hugging Face hub id or local model folder.")],
    # -- Model ------------------------------------------------------------------------------
    task: Annotated[
        Task | None,
        typer.Option(help="What the model serves (default: detected from the model's files).", rich_help_panel=MODEL),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option(help="Token limit per text (per window, with --long-inputs chunk).", rich_help_panel=MODEL),
    ] = None,
    long_inputs: Annotated[
        LongInputs,
        typer.Option(
            help="Texts over --max-length: keep the start (truncate) or the end (truncate_left), refuse them "
            "(error), or embed overlapping windows and pool them (chunk). Requests may ask for another.",
            rich_help_panel=MODEL,
        ),
    ] = _SERVING.long_inputs,
    chunk_overlap: Annotated[
        int | None,
        typer.Option(
            help="Tokens neighbouring windows share under chunk (default: an eighth of --max-length).",
            rich_help_panel=MODEL,
        ),
    ] = _SERVING.chunk_overlap,
    no_truncate: Annotated[
        bool,
        typer.Option(
            "--no-truncate", help="Older spelling of --long-inputs error.", hidden=True, rich_help_panel=MODEL
        ),
    ] = False,
    # -- Batching and placement -------------------------------------------------------------
    max_batch_size: Annotated[
        int, typer.Option(help="Most texts per request and per dynamic batch.", rich_help_panel=BATCHING)
    ] = _SERVING.max_batch_size,
    max_queue_delay_us: Annotated[
        int, typer.Option(help="How long the dynamic batcher waits to fill a batch.", rich_help_panel=BATCHING)
    ] = _SERVING.max_queue_delay_us,
    preferred_batch_size: Annotated[
        list[int] | None,
        typer.Option(help="Batch sizes the batcher prefers (repeat the option).", rich_help_panel=BATCHING),
    ] = None,
    batching: Annotated[
        Batching,
        typer.Option(
            help="Encoder rows: length-sorted sub-batches under the token budget, or pad to the longest.",
            rich_help_panel=BATCHING,
        ),
    ] = _SERVING.batching,
    max_batch_tokens: Annotated[
        int, typer.Option(help="Padded-token budget of one encoder sub-batch.", rich_help_panel=BATCHING)
    ] = _SERVING.max_batch_tokens,
    instances: Annotated[
        int, typer.Option(help="Encoder instances (ONNX Runtime sessions).", rich_help_panel=BATCHING)
    ] = _SERVING.instances,
    tokenizer_instances: Annotated[
        int, typer.Option(help="Tokenizer instances (python stubs).", rich_help_panel=BATCHING)
    ] = _SERVING.tokenizer_instances,
    device: Annotated[
        Device | None,
        typer.Option(
            help="Encoder instance kind (default: gpu for fp16 and tensorrt, else cpu).", rich_help_panel=BATCHING
        ),
    ] = _BUILD.device,
    gpu_providers: Annotated[
        str,
        typer.Option(
            help="ONNX Runtime providers of GPU instances, best first: cuda or tensorrt,cuda.", rich_help_panel=BATCHING
        ),
    ] = _GPU_PROVIDERS,
    # -- Limits and load shedding -----------------------------------------------------------
    max_queue_size: Annotated[
        int | None,
        typer.Option(
            help="Queue bound per step; past it requests get 503/UNAVAILABLE at once.", rich_help_panel=LIMITS
        ),
    ] = _SERVING.max_queue_size,
    queue_timeout_us: Annotated[
        int | None,
        typer.Option(help="Reject requests that waited longer than this in a queue.", rich_help_panel=LIMITS),
    ] = _SERVING.queue_timeout_us,
    max_chars: Annotated[
        int | None,
        typer.Option(help="Most characters per text, checked before tokenisation.", rich_help_panel=LIMITS),
    ] = _SERVING.max_chars,
    rate_limit_resource: Annotated[
        list[str] | None,
        typer.Option(help="NAME:COUNT held by each encoder execution (serve --rate-limit).", rich_help_panel=LIMITS),
    ] = None,
    # -- Precision --------------------------------------------------------------------------
    precision: Annotated[
        Precision,
        typer.Option(
            help="Served precision: fp32, int8 (CPU) or fp16 (GPU); gated against PyTorch.", rich_help_panel=PRECISION
        ),
    ] = _BUILD.precision,
    optimize: Annotated[
        Optimize,
        typer.Option(
            help="ONNX Runtime transformer fusions offline; auto: for int8 and fp16.", rich_help_panel=PRECISION
        ),
    ] = _BUILD.optimize,
    validation_texts: Annotated[
        Path | None,
        typer.Option(
            help="Texts the gate judges: one per line, or JSON lines {text, label?, query?} (default: built-in).",
            rich_help_panel=PRECISION,
        ),
    ] = None,
    accept_degraded: Annotated[
        bool,
        typer.Option(
            help="Export even below the precision's fidelity bounds (recorded in the report).",
            rich_help_panel=PRECISION,
        ),
    ] = _BUILD.accept_degraded,
    # -- int8 -------------------------------------------------------------------------------
    int8_calibration: Annotated[
        Int8Calibration,
        typer.Option(
            help="int8: dynamic per-channel, or static QDQ with MinMax ranges from the calibration texts.",
            rich_help_panel=INT8,
        ),
    ] = _INT8_CALIBRATION,
    calibration_texts: Annotated[
        Path | None,
        typer.Option(
            help="Texts for int8 calibration: one per line, or JSON lines with a text (default: built-in).",
            rich_help_panel=INT8,
        ),
    ] = None,
    int8_headroom: Annotated[
        float,
        typer.Option(
            help="int8: share of the gate's allowed mean error the calibration texts may use.", rich_help_panel=INT8
        ),
    ] = _INT8.headroom,
    int8_search: Annotated[
        bool,
        typer.Option(
            help="int8: if calibration misses the bounds, keep the noisiest nodes in fp32 (at most 4 tries).",
            rich_help_panel=INT8,
        ),
    ] = _INT8.search,
    int8_outliers: Annotated[
        bool,
        typer.Option(
            help="int8 dynamic: balance LayerNorm-output channels and split activation spikes to fp32.",
            rich_help_panel=INT8,
        ),
    ] = _INT8.outlier_split,
    # -- TensorRT ---------------------------------------------------------------------------
    artifact_format: Annotated[
        ArtifactFormat,
        typer.Option(
            "--format",
            help="onnx, or a tensorrt engine (needs a GPU and TensorRT 10).",
            rich_help_panel=TENSORRT,
        ),
    ] = _BUILD.format,
    plan_cache: Annotated[
        Path | None,
        typer.Option(help="TensorRT engine cache (default: $ENCODER_TRITON_CACHE/tensorrt).", rich_help_panel=TENSORRT),
    ] = _BUILD.tensorrt_cache_dir,
    # -- Output -----------------------------------------------------------------------------
    repo: Annotated[
        Path, typer.Option("--repo", help="Triton model repository folder.", rich_help_panel=OUTPUT)
    ] = DEFAULT_REPO,
    name: Annotated[
        str | None, typer.Option(help="Name of the served model (default: from MODEL).", rich_help_panel=OUTPUT)
    ] = None,
    backend: Annotated[
        Backend,
        typer.Option(
            help="python (portable), or native: Triton's onnxruntime / tensorrt_plan backend.",
            rich_help_panel=OUTPUT,
        ),
    ] = _BUILD.backend,
    cache: Annotated[
        bool,
        typer.Option(help="Response cache on the ensemble (repeated texts skip the model).", rich_help_panel=OUTPUT),
    ] = _SERVING.response_cache,
    warmup: Annotated[
        bool,
        typer.Option(help="Run a real text through both steps when the models load.", rich_help_panel=OUTPUT),
    ] = _SERVING.warmup,
) -> None:
    """Export MODEL to ONNX, validate it against PyTorch and write a Triton ensemble into REPO.

    The task (embed, classify or rerank) is detected from the model's files unless --task is given.
    Every export also gates the served artefact (its precision and engine) against PyTorch and
    writes export_report.json beside it.

    Example: encoder-triton export sentence-transformers/all-MiniLM-L6-v2 --name minilm

    Example: encoder-triton export sentence-transformers/all-MiniLM-L6-v2 --name minilm_int8 --precision int8
    """
    from rich.console import Console

    console = Console(stderr=True)
    with user_errors(ValueError):
        # Before the pipeline's first heavy import: a missing extra is an install hint.
        require_extra("export", needed_by="encoder-triton export")
        from encoder_triton.export.pipeline import export_model
        from encoder_triton.export.precision.calibration import load_calibration_texts
        from encoder_triton.export.user_texts import read_texts
        from encoder_triton.runtime.providers import parse_preference

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
            long_inputs=_long_inputs(long_inputs, no_truncate),
            chunk_overlap=chunk_overlap,
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
            progress=step_progress(console),
            build=build,
        )
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


def _long_inputs(policy: LongInputs, no_truncate: bool) -> LongInputs:
    if not no_truncate:
        return policy
    if policy not in (LongInputs.ERROR, _SERVING.long_inputs):
        raise ValueError(f"--no-truncate means --long-inputs error, not {policy.value}: pass one of them")
    return LongInputs.ERROR


def _resource(spec: str) -> tuple[str, int]:
    name, _, count = spec.partition(":")
    if not name or not count.isdigit():
        raise ValueError(f"--rate-limit-resource takes NAME:COUNT, got {spec!r}")
    return name, int(count)
