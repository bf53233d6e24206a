"""From the validated fp32 ONNX export to the artefact Triton serves: optimise, convert, build.

    precision  format    what is served
    fp32       onnx      the export as is (`--optimize fuse`: with ORT's fusions applied offline)
    int8       onnx      fused, outlier channels balanced or split, then dynamic per-channel int8 (int8.py)
    fp16       onnx      fused for the GPU, then float16 with I/O and sensitive ops in fp32 (fp16.py)
    any        tensorrt  a TensorRT engine built from the plain fp32 graph, FP16 / INT8 flags,
                         cached by content hash (tensorrt_plan.py)

`build_encoder` replaces the fp32 files in the encoder folder by the served artefact and says
how it runs (`EncoderExecution`); `run_for_gate` runs that artefact the way the served step will,
for the fidelity gate, on whatever this machine can run it with.

Example:
    >>> options = BuildOptions(precision=Precision.INT8)
    >>> options.resolved_optimize(), options.resolved_device()
    (<Optimize.FUSE: 'fuse'>, <Device.CPU: 'cpu'>)
    >>> built = build_encoder(Path("encoder/model.onnx"), ..., options=options)  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton.contract import Precision, Runner
from encoder_triton.export.fidelity import Thresholds, thresholds_for
from encoder_triton.export.precision.execution import ArtifactFormat, Backend, Device, EncoderExecution, Optimize
from encoder_triton.export.precision.int8 import Int8Options, Int8Progress
from encoder_triton.export.user_texts import UserTexts
from encoder_triton.runtime.providers import DEFAULT_GPU_PREFERENCE
from encoder_triton.runtime.shape_buckets import length_buckets
from encoder_triton.runtime.tokenization import TokenBatch


@dataclass(frozen=True)
class BuildOptions:
    precision: Precision = Precision.FP32
    format: ArtifactFormat = ArtifactFormat.ONNX
    optimize: Optimize = Optimize.AUTO
    backend: Backend = Backend.PYTHON
    device: Device | None = None  # None: GPU for fp16 and TensorRT, CPU otherwise
    gpu_providers: tuple[str, ...] = DEFAULT_GPU_PREFERENCE
    accept_degraded: bool = False
    int8: Int8Options = Int8Options()
    #: Texts int8 and INT8 engines calibrate on (None: the built-in set).
    calibration_texts: tuple[str, ...] | None = None
    #: Texts the export is validated and gated on (None: the built-in reference texts).
    validation_texts: UserTexts | None = None
    #: Replaces the precision's default gate bounds field by field.
    thresholds: Thresholds | None = None
    tensorrt_cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.format is ArtifactFormat.TENSORRT:
            if self.optimize is Optimize.FUSE:
                raise ValueError(
                    "--optimize fuse adds ONNX Runtime contrib ops that TensorRT cannot parse; "
                    "TensorRT fuses on its own: drop --optimize"
                )
            if self.device is Device.CPU:
                raise ValueError("a TensorRT engine runs on a GPU: use --device gpu (or --format onnx)")
            if self.int8.mode == "static":
                raise ValueError("--int8-calibration static is for ONNX; TensorRT INT8 always calibrates")

    def resolved_optimize(self) -> Optimize:
        if self.optimize is not Optimize.AUTO:
            return self.optimize
        if self.format is ArtifactFormat.ONNX and self.precision in (Precision.INT8, Precision.FP16):
            return Optimize.FUSE
        return Optimize.NONE

    def resolved_device(self) -> Device:
        if self.device is not None:
            return self.device
        if self.format is ArtifactFormat.TENSORRT or self.precision is Precision.FP16:
            return Device.GPU
        return Device.CPU

    def gate_thresholds(self) -> Thresholds:
        return thresholds_for(self.precision.value, self.thresholds)

    def describe(self) -> str:
        parts = [self.precision.value, self.format.value]
        if self.resolved_optimize() is Optimize.FUSE:
            parts.append("fused")
        return " ".join(parts)


@dataclass(frozen=True)
class BuiltEncoder:
    path: Path
    execution: EncoderExecution
    #: Report sections: "optimize", "int8", "fp16", "tensorrt".
    details: dict[str, Any] = field(default_factory=dict)
    #: What stayed in fp32 (nodes for int8, ops and nodes for fp16), for the report.
    kept_fp32: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_encoder(
    fp32_onnx: Path,
    *,
    config: dict[str, Any],
    options: BuildOptions,
    calibration: TokenBatch,
    max_length: int,
    max_batch_size: int,
    max_batch_tokens: int,
    work_dir: Path,
    progress: Int8Progress | None = None,
) -> BuiltEncoder:
    """Turn the exported fp32 graph into the served artefact, in place of `fp32_onnx`'s files.

    `config` is the model's config.json (for the optimiser); `calibration` holds the
    calibration texts tokenised exactly as the served tokenizer step will (int8 only);
    `progress` is told how the int8 build advances.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    device = options.resolved_device()
    details: dict[str, Any] = {}
    kept: list[Any] = []
    notes: list[str] = []
    graph = fp32_onnx

    if options.resolved_optimize() is Optimize.FUSE:
        from encoder_triton.export.precision.optimize import optimize_onnx

        for_gpu = device is Device.GPU
        optimized = optimize_onnx(graph, work_dir / "optimized.onnx", config, for_gpu=for_gpu)
        details["optimize"] = {"level": "fuse", **optimized.to_dict()}
        if not optimized.settings.known:
            notes.append(
                f"model_type {config.get('model_type')!r} has no dedicated ONNX Runtime optimiser: "
                f"BERT fusions tried, fused {optimized.fused or 'nothing'}"
            )
        graph = optimized.path
    else:
        details["optimize"] = {"level": "none"}

    served_file = "model.onnx"
    runner = Runner.ONNXRUNTIME
    if options.format is ArtifactFormat.TENSORRT:
        from encoder_triton.export.precision.tensorrt_plan import PLAN_FILE, PlanSettings, build_plan

        settings = PlanSettings(
            precision=options.precision.value,
            max_batch_size=max_batch_size,
            max_length=max_length,
            max_batch_tokens=max_batch_tokens,
        )
        feeds = _feeds(calibration) if options.precision is Precision.INT8 else []
        artifact = build_plan(
            graph, work_dir / PLAN_FILE, settings, calibration=feeds, cache_dir=options.tensorrt_cache_dir
        )
        details["tensorrt"] = artifact.to_dict()
        if options.precision is not Precision.FP32:
            kept.append({"layers": "et_pool/* (pooling, normalisation)", "why": "fp16 overflow / epsilon"})
        graph, served_file, runner = artifact.path, PLAN_FILE, Runner.TENSORRT
    elif options.precision is Precision.INT8:
        from encoder_triton.export.precision.int8 import quantize_int8

        result = quantize_int8(
            graph,
            work_dir / "int8.onnx",
            calibration=calibration,
            gate=options.gate_thresholds(),
            options=options.int8,
            progress=progress,
        )
        details["int8"] = result.to_dict()
        kept.extend(details["int8"]["kept_fp32"])
        notes.extend(result.notes)
        graph = result.path
    elif options.precision is Precision.FP16:
        from encoder_triton.export.precision.fp16 import convert_fp16

        converted = convert_fp16(graph, work_dir / "fp16.onnx")
        details["fp16"] = converted.to_dict()
        kept.extend([*converted.kept_fp32_ops, *converted.kept_fp32_nodes])
        graph = converted.path

    target = fp32_onnx.parent / served_file
    if graph != fp32_onnx:
        for old in (fp32_onnx, fp32_onnx.with_name(fp32_onnx.name + ".data")):
            old.unlink(missing_ok=True)
        shutil.move(str(graph), target)
        data = graph.with_name(graph.name + ".data")
        if data.exists():
            # External weights keep the file name the graph refers to.
            shutil.move(str(data), target.parent / data.name)
    execution = EncoderExecution(
        file=served_file,
        runner=runner,
        precision=options.precision,
        backend=options.backend,
        device=device,
        gpu_providers=options.gpu_providers,
        length_buckets=length_buckets(max_length) if options.backend is Backend.NATIVE else (),
    )
    return BuiltEncoder(path=target, execution=execution, details=details, kept_fp32=kept, notes=notes)


def _feeds(batch: TokenBatch, rows: int = 8) -> list[dict[str, np.ndarray]]:
    order = np.argsort(batch.lengths)
    return [batch.take(order[i : i + rows]).arrays() for i in range(0, len(order), rows)]


@dataclass(frozen=True)
class GateRun:
    outputs: dict[str, np.ndarray] | None
    runner: list[str]
    skipped: str = ""


def run_for_gate(built: BuiltEncoder, batch: TokenBatch) -> GateRun:
    """The served artefact's outputs on `batch`, through the same runtime code Triton runs.

    ONNX graphs run on CUDA when this machine has it and the export targets a GPU, else on the
    CPU (ONNX Runtime's CPU provider runs fp16 graphs too, slowly). When nothing here can run
    the artefact, the result says why instead of failing the export.
    """
    execution = built.execution
    if execution.runner is Runner.TENSORRT:
        from encoder_triton.runtime.tensorrt_runner import TensorRTEncoder

        trt_encoder = TensorRTEncoder(built.path)
        return GateRun(trt_encoder.encode_outputs(batch), ["TensorRT"])

    import onnxruntime as ort

    from encoder_triton.runtime.encoder import OnnxEncoder

    providers: list[Any] = ["CPUExecutionProvider"]
    if execution.device is Device.GPU and "CUDAExecutionProvider" in ort.get_available_providers():
        providers = ["CUDAExecutionProvider", *providers]
    try:
        encoder = OnnxEncoder(built.path, providers=providers)
        return GateRun(encoder.encode_outputs(batch), list(encoder.providers))
    except (ort.capi.onnxruntime_pybind11_state.NotImplemented, ort.capi.onnxruntime_pybind11_state.Fail) as exc:
        if execution.precision is not Precision.FP16:
            raise
        return GateRun(None, providers, skipped=f"no provider here runs the fp16 graph ({exc})")
