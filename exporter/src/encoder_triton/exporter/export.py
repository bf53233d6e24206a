"""The export pipeline: resolve, export ONNX, validate, build the served precision, gate, write.

The fp32 ONNX export is validated against PyTorch first (an export bug is not a precision
loss); then `engines.build_encoder` turns it into what Triton serves (optimised, int8, fp16 or
a TensorRT engine) and `fidelity.evaluate` gates that artefact against the same PyTorch outputs.

Example:
    >>> result = export_model("path/to/all-MiniLM-L6-v2", repo=Path("model_repository"),
    ...                       name="minilm")  # doctest: +SKIP
    >>> result.fidelity.min_cosine >= 0.9999  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from encoder_triton import contract
from encoder_triton.exporter.engines import EngineOptions, build_encoder, run_for_gate
from encoder_triton.exporter.errors import FidelityError
from encoder_triton.exporter.fidelity import GateReport, evaluate
from encoder_triton.exporter.onnx_export import export_onnx, save_tokenizer
from encoder_triton.exporter.pooling import read_pooling
from encoder_triton.exporter.reference_texts import REFERENCE_TEXTS
from encoder_triton.exporter.repository import EncoderSpec, ServingOptions, WarmupSample, write_repository
from encoder_triton.exporter.sources import resolve_model
from encoder_triton.exporter.validation import (
    FP32_MIN_COSINE,
    FidelityReport,
    compare_embeddings,
    reference_embeddings,
)
from encoder_triton.runtime.encoder import OnnxEncoder
from encoder_triton.runtime.tokenization import TextTokenizer

REPORT_FILE = "export_report.json"
#: The real text Triton runs through both steps at load (model_warmup), before any traffic.
WARMUP_TEXT = REFERENCE_TEXTS[4]

#: A progress display: called with a step's description, it returns a context around the step.
Progress = Callable[[str], AbstractContextManager[Any]]


@contextlib.contextmanager
def _silent(_: str) -> Iterator[None]:
    yield


@dataclass(frozen=True)
class ExportResult:
    name: str
    model_dirs: list[Path]
    fidelity: FidelityReport  # the fp32 ONNX export against PyTorch
    timings_s: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: The served artefact (its precision and engine) against PyTorch: what the gate decided on.
    gate: GateReport | None = None


def export_model(
    model: str,
    *,
    repo: Path,
    name: str | None = None,
    max_length: int | None = None,
    options: ServingOptions | None = None,
    min_cosine: float = FP32_MIN_COSINE,
    progress: Progress = _silent,
    engine: EngineOptions | None = None,
) -> ExportResult:
    """Export MODEL (hub id or folder) into `repo` as an embedding ensemble.

    `engine` picks the served precision, format, optimisation and backend (default: fp32 ONNX
    on the python backend). Raises FidelityError, listing every failing check, when the ONNX
    export disagrees with the PyTorch reference, or when the served artefact misses its
    precision's fidelity bounds and `engine.accept_degraded` is off; nothing is written then.
    """
    options = options or ServingOptions()
    engine = engine or EngineOptions()
    started = time.perf_counter()
    timings: dict[str, float] = {}
    notes: list[str] = []

    @contextlib.contextmanager
    def step(key: str, description: str) -> Iterator[None]:
        started = time.perf_counter()
        with progress(description):
            yield
        timings[key] = round(time.perf_counter() - started, 3)

    with step("resolve", f"Resolving {model}"):
        source = resolve_model(model)
        pooling = read_pooling(source.path)
    if not pooling.declared:
        notes.append("no sentence-transformers pooling config: using mean pooling without normalisation")
    name = name or source.default_name
    max_length = max_length or source.max_length

    with tempfile.TemporaryDirectory(prefix="encoder-triton-export-") as tmp:
        staging = Path(tmp)
        encoder_dir, tokenizer_dir = staging / "encoder", staging / "tokenizer"
        with step("onnx_export", "Exporting ONNX with optimum"):
            onnx_artifact = export_onnx(source, encoder_dir, pooling)
            tokenizer_artifact = save_tokenizer(source, tokenizer_dir)
        with step("validate", f"Validating against PyTorch on {len(REFERENCE_TEXTS)} texts"):
            tokenizer = TextTokenizer.from_file(
                tokenizer_artifact.path,
                max_length=max_length,
                pad_id=tokenizer_artifact.pad_id,
                with_token_type_ids=contract.TOKEN_TYPE_IDS in onnx_artifact.input_names,
            )
            # Exactly what Triton's steps compute: the same runtime code on the same files.
            candidate = OnnxEncoder(onnx_artifact.path).encode(tokenizer.encode(list(REFERENCE_TEXTS)))
            reference = reference_embeddings(
                source.path,
                REFERENCE_TEXTS,
                max_length=max_length,
                pooling=pooling,
                sentence_transformer=source.is_sentence_transformer,
            )
            fidelity = compare_embeddings(reference, candidate, REFERENCE_TEXTS, min_cosine=min_cosine)
        if not fidelity.passed:
            raise FidelityError(f"the ONNX export of {model!r} disagrees with PyTorch:", fidelity.failures)
        fp32_size = _size(encoder_dir)

        with step("engine", f"Building the {engine.describe()} encoder"):
            built = build_encoder(
                onnx_artifact.path,
                config=source.config,
                options=engine,
                tokenizer=tokenizer,
                max_length=max_length,
                max_batch_size=options.max_batch_size,
                max_batch_tokens=options.max_batch_tokens,
                work_dir=staging / "work",
            )
        notes.extend(built.notes)
        with step("gate", f"Fidelity gate ({engine.precision.value}) on {len(REFERENCE_TEXTS)} texts"):
            gate = _gate(built, tokenizer, reference, engine)
        if gate.skipped:
            notes.append(f"fidelity gate skipped: {gate.skipped}")
        elif not gate.passed:
            if not engine.accept_degraded:
                raise FidelityError(
                    f"the {engine.describe()} encoder of {model!r} misses its fidelity bounds "
                    "(--accept-degraded exports it anyway, recorded in export_report.json):",
                    gate.failures,
                )
            gate = replace(gate, accepted_degraded=True)
            notes.append("exported below the fidelity bounds (--accept-degraded): " + "; ".join(gate.failures))

        spec = EncoderSpec(
            task=contract.Task.EMBED,
            dimension=int(candidate.shape[1]),
            max_length=max_length,
            pad_id=tokenizer_artifact.pad_id,
            encoder_inputs=onnx_artifact.input_names,
            source_model=model,
            execution=built.execution,
        )
        report = {
            "source_model": model,
            "task": spec.task.value,
            "precision": engine.precision.value,
            "format": engine.format.value,
            "backend": built.execution.backend.value,
            "device": built.execution.device.value,
            "encoder_file": built.execution.file,
            "opset": onnx_artifact.opset,
            "pooling": {"modes": list(pooling.modes), "normalize": pooling.normalize},
            "dimension": spec.dimension,
            "max_length": max_length,
            "encoder_inputs": list(spec.encoder_inputs),
            "size_bytes": _size(encoder_dir),
            "fp32_size_bytes": fp32_size,
            "fidelity": gate.to_dict(),
            "fp32_fidelity": fidelity.to_dict(),
            "kept_fp32": built.kept_fp32,
            **built.details,
            "timings_s": timings,
            "export_time_s": round(time.perf_counter() - started, 3),
            "notes": notes,
        }
        (encoder_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        warmup_tokens = tokenizer.encode([WARMUP_TEXT]).arrays()
        warmup = WarmupSample(WARMUP_TEXT, {key: value[0] for key, value in warmup_tokens.items()})
        with step("write", f"Writing {repo}/{name}"):
            dirs = write_repository(
                repo, name, spec, options, tokenizer_dir=tokenizer_dir, encoder_dir=encoder_dir, warmup=warmup
            )
    return ExportResult(name=name, model_dirs=dirs, fidelity=fidelity, timings_s=timings, notes=notes, gate=gate)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and p.name != REPORT_FILE)


def _gate(built: Any, tokenizer: TextTokenizer, reference: Any, engine: EngineOptions) -> GateReport:
    """The served artefact on the reference texts, through the runtime, against PyTorch."""
    run = run_for_gate(built, tokenizer.encode(list(REFERENCE_TEXTS)))
    if run.outputs is None:
        return GateReport(
            task=contract.Task.EMBED.value,
            precision=engine.precision.value,
            texts=len(REFERENCE_TEXTS),
            metrics={},
            thresholds=engine.gate_thresholds().to_dict(),
            runner=run.runner,
            skipped=run.skipped,
        )
    return evaluate(
        contract.Task.EMBED.value,
        engine.precision.value,
        reference,
        run.outputs,
        REFERENCE_TEXTS,
        thresholds=engine.thresholds,
        runner=run.runner,
    )
