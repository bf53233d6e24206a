"""The export pipeline: resolve, detect the task, export ONNX, validate, build the served
precision, gate it, write.

The fp32 ONNX export is judged against PyTorch first, with `fidelity.evaluate` and the fp32
row of the threshold table (an export bug is not a precision loss); then `build_encoder` turns
it into what Triton serves (optimised, int8, fp16 or a TensorRT build) and the same `evaluate`
gates that artefact against the same PyTorch outputs with its precision's row. When Triton
serves the export as it is (fp32, no offline optimisation, ONNX Runtime in the python backend on
the CPU), nothing new would run: the export's report is the gate.

Example:
    >>> result = export_model("path/to/all-MiniLM-L6-v2", repo=Path("model_repository"),
    ...                       name="minilm")  # doctest: +SKIP
    >>> result.task, result.fidelity.min_cosine >= 0.9999  # doctest: +SKIP
    (<Task.EMBED: 'embed'>, True)
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

import numpy as np

from encoder_triton import contract
from encoder_triton.contract import Precision, Task
from encoder_triton.errors import FidelityError
from encoder_triton.export.fidelity import (
    REFERENCE_QUERIES,
    REFERENCE_TEXTS,
    FidelityReport,
    Reference,
    Thresholds,
    evaluate,
    not_measured,
    reference_pairs,
    task_reference,
    thresholds_for,
)
from encoder_triton.export.graph import bge_m3
from encoder_triton.export.graph.heads import ClassificationHead, RerankHead, classification_head
from encoder_triton.export.graph.onnx_export import Head, export_onnx, save_tokenizer
from encoder_triton.export.graph.pooling import Pooling, read_pooling
from encoder_triton.export.precision.build import BuildOptions, BuiltEncoder, build_encoder, run_for_gate
from encoder_triton.export.precision.execution import ArtifactFormat, Backend, Device, Optimize
from encoder_triton.export.repository import EncoderSpec, ServingOptions, WarmupSample, write_repository
from encoder_triton.export.source.architectures import architecture_for, raw_output
from encoder_triton.export.source.resolve import ModelSource, resolve_model
from encoder_triton.export.source.tasks import detect_task, num_labels
from encoder_triton.export.user_texts import UserTexts, label_accuracy
from encoder_triton.extras import require_extra
from encoder_triton.runtime.encoder import OnnxEncoder
from encoder_triton.runtime.tokenization import TextTokenizer, TokenBatch

REPORT_FILE = "export_report.json"
#: What the first check runs: the graph optimum exported, before any precision work.
FP32_EXPORT = "fp32 ONNX export"
#: The real text Triton runs through both steps at load (model_warmup), before any traffic;
#: rerankers pair it with WARMUP_QUERY.
WARMUP_TEXT = REFERENCE_TEXTS[4]
WARMUP_QUERY = REFERENCE_QUERIES[1]

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
    task: Task = Task.EMBED
    #: The served artefact (its precision and runner) against PyTorch: what the gate decided on.
    #: `fidelity` itself when Triton serves the fp32 export as it is.
    gate: FidelityReport | None = None


def export_model(
    model: str,
    *,
    repo: Path,
    name: str | None = None,
    task: Task | str | None = None,
    max_length: int | None = None,
    options: ServingOptions | None = None,
    min_cosine: float | None = None,
    max_abs_error: float | None = None,
    progress: Progress = _silent,
    build: BuildOptions | None = None,
) -> ExportResult:
    """Export MODEL (hub id or folder) into `repo` as an ensemble answering its task.

    `task` (embed, classify, rerank) overrides the detection from the model's files. Raises
    FidelityError, listing every failing check and its texts, when the ONNX export disagrees
    with the PyTorch reference beyond the fp32 bounds (`min_cosine` and `max_abs_error` replace
    the table's, see `fidelity.thresholds`); nothing is written to `repo` then.

    `build` picks the served precision, format, optimisation and backend (default: fp32 ONNX
    on the python backend); the served artefact must then meet its precision's fidelity bounds
    (see `fidelity`), or the export fails the same way unless `build.accept_degraded`.
    """
    require_extra("export", needed_by="export_model")
    options = options or ServingOptions()
    build = build or BuildOptions()
    started = time.perf_counter()
    timings: dict[str, float] = {}
    notes: list[str] = []

    @contextlib.contextmanager
    def step(key: str, description: str) -> Iterator[Any]:
        started = time.perf_counter()
        with progress(description) as handle:
            yield handle  # a progress display may hand out a callback for the step's own progress
        timings[key] = round(time.perf_counter() - started, 3)

    with step("resolve", f"Resolving {model}"):
        source = resolve_model(model)
        choice = detect_task(source, task)
        architecture = architecture_for(source.config)
        architecture.check_task(choice.task)
        head = _head(source, choice.task)
    if choice.fallback:
        notes.append(f"task: {choice.reason}")
    if not architecture.registered:
        notes.append(
            f"model_type {architecture.model_type!r} is not in the architecture registry: exported with optimum's "
            "generic exporter (validated against PyTorch all the same)"
        )
    if isinstance(head, Pooling) and not head.declared:
        notes.append("no sentence-transformers pooling config: using mean pooling without normalisation")
    # bge-m3-style: sparse and ColBERT heads beside the weights, answered by the python encoder step.
    m3 = bge_m3.read_heads(source.path) if choice.task is Task.EMBED else None
    if m3 is not None and build.backend is Backend.NATIVE:
        notes.append("bge-m3's sparse and multi-vector outputs need the python backend: exported dense only")
        m3 = None
    name = name or source.default_name
    max_length = max_length or source.max_length

    with tempfile.TemporaryDirectory(prefix="encoder-triton-export-") as tmp:
        staging = Path(tmp)
        encoder_dir, tokenizer_dir = staging / "encoder", staging / "tokenizer"
        with step("onnx_export", f"Exporting ONNX ({architecture.model_type}, {choice.task.value})"):
            onnx_artifact = export_onnx(source, encoder_dir, head, architecture=architecture)
            if m3 is not None:
                outputs = bge_m3.fold_heads_into_file(onnx_artifact.path, hidden=raw_output(Task.EMBED), heads=m3)
                onnx_artifact = replace(onnx_artifact, output_names=outputs)
            tokenizer_artifact = save_tokenizer(source, tokenizer_dir)
        rows = _validation_rows(build, choice.task)
        checked = f"{len(rows.texts)} pairs" if choice.task is Task.RERANK else f"{len(rows.texts)} texts"
        with step("validate", f"Validating against PyTorch on {checked}"):
            tokenizer = TextTokenizer.from_file(
                tokenizer_artifact.path,
                max_length=max_length,
                pad_id=tokenizer_artifact.pad_id,
                with_token_type_ids=contract.TOKEN_TYPE_IDS in onnx_artifact.input_names,
            )
            # Exactly what Triton's steps compute: the same runtime code on the same files.
            tokens = _candidate_tokens(tokenizer, rows)
            fp32_encoder = OnnxEncoder(onnx_artifact.path)
            candidate = fp32_encoder.encode_outputs(tokens)
            reference = task_reference(
                source, architecture, head, rows.texts, queries=rows.queries, max_length=max_length
            )
            fp32_bounds = Thresholds(min_cosine=min_cosine, max_abs_error=max_abs_error)
            fidelity = evaluate(
                choice.task.value,
                Precision.FP32.value,
                reference.values,
                candidate[reference.output],
                reference.rows,
                thresholds=fp32_bounds,
                runner=fp32_encoder.providers,
                artefact=FP32_EXPORT,
            )
            heads_failures = (
                []
                if m3 is None
                else bge_m3.check_heads(
                    candidate,
                    tokens.lengths,
                    bge_m3.reference_outputs(source.path, m3, REFERENCE_TEXTS, max_length=max_length),
                )
            )
        if not fidelity.passed or heads_failures:
            raise FidelityError(
                f"the ONNX export of {model!r} disagrees with PyTorch:", [*fidelity.failures, *heads_failures]
            )
        fp32_size = _size(encoder_dir)

        with step("build", f"Building the {build.describe()} encoder") as build_progress:
            built = build_encoder(
                onnx_artifact.path,
                config=source.config,
                options=build,
                calibration=_calibration_tokens(tokenizer, choice.task, build),
                max_length=max_length,
                max_batch_size=options.max_batch_size,
                max_batch_tokens=options.max_batch_tokens,
                work_dir=staging / "work",
                progress=build_progress if callable(build_progress) else None,
            )
        notes.extend(built.notes)
        with step("gate", f"Fidelity gate ({build.precision.value}) on {checked}"):
            if _serves_the_export_as_is(build):
                gate = _regate(fidelity, reference, candidate, build, fp32_bounds)
            else:
                gate = _gate(built, tokens, reference, choice.task, build)
        if gate.skipped:
            notes.append(f"fidelity gate skipped: {gate.skipped}")
        elif not gate.passed:
            if not build.accept_degraded:
                raise FidelityError(
                    f"the {build.describe()} encoder of {model!r} misses its fidelity bounds "
                    "(--accept-degraded exports it anyway, recorded in export_report.json):",
                    gate.failures,
                )
            gate = replace(gate, accepted_degraded=True)
            notes.append("exported below the fidelity bounds (--accept-degraded): " + "; ".join(gate.failures))

        first_output = candidate[onnx_artifact.output_names[0]]
        spec = EncoderSpec(
            task=choice.task,
            dimension=int(first_output.shape[1]),
            max_length=max_length,
            pad_id=tokenizer_artifact.pad_id,
            encoder_inputs=onnx_artifact.input_names,
            source_model=model,
            labels=head.labels if isinstance(head, ClassificationHead) else (),
            activation=head.activation if isinstance(head, ClassificationHead) else None,
            normalized=isinstance(head, Pooling) and head.normalize,
            execution=built.execution,
            colbert_dimension=None if m3 is None else m3.colbert_dimension,
            special_token_ids=() if m3 is None else m3.special_token_ids,
        )
        report = {
            "source_model": model,
            "task": spec.task.value,
            "task_reason": choice.reason,
            "architecture": architecture.model_type,
            "precision": build.precision.value,
            "format": build.format.value,
            "backend": built.execution.backend.value,
            "device": built.execution.device.value,
            "encoder_file": built.execution.file,
            "opset": onnx_artifact.opset,
            "num_parameters": _parameter_count(onnx_artifact.path),
            **_head_report(head),
            **({} if m3 is None else {"bge_m3": {"colbert_dimension": m3.colbert_dimension, "checked": "fp32"}}),
            "dimension": spec.dimension,
            "max_length": max_length,
            "encoder_inputs": list(spec.encoder_inputs),
            "encoder_outputs": list(onnx_artifact.output_names),
            "size_bytes": _size(encoder_dir),
            "fp32_size_bytes": fp32_size,
            "fidelity": gate.to_dict(),
            "fp32_fidelity": fidelity.to_dict(),
            "validation": _validation_report(rows, reference, head),
            "kept_fp32": built.kept_fp32,
            **built.details,
            "timings_s": timings,
            "export_time_s": round(time.perf_counter() - started, 3),
            "notes": notes,
        }
        (encoder_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        warmup = _warmup_sample(tokenizer, choice.task)
        with step("write", f"Writing {repo}/{name}"):
            dirs = write_repository(
                repo, name, spec, options, tokenizer_dir=tokenizer_dir, encoder_dir=encoder_dir, warmup=warmup
            )
    return ExportResult(
        name=name, model_dirs=dirs, fidelity=fidelity, timings_s=timings, notes=notes, task=choice.task, gate=gate
    )


def _head(source: ModelSource, task: Task) -> Head:
    if task is Task.EMBED:
        return read_pooling(source.path)
    if task is Task.CLASSIFY:
        return classification_head(source.config)
    return RerankHead(num_labels=num_labels(source.config))


def _parameter_count(path: Path) -> int:
    """Weights in the fp32 graph (its initializers), the figure `GET /models` reports."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return int(sum(int(np.prod(tensor.dims)) for tensor in graph.initializer))


def _head_report(head: Head) -> dict[str, Any]:
    if isinstance(head, Pooling):
        return {"pooling": {"modes": list(head.modes), "normalize": head.normalize}}
    if isinstance(head, ClassificationHead):
        return {"labels": list(head.labels), "activation": head.activation.value}
    return {"rerank": {"num_labels": head.num_labels, "score": "sigmoid(raw_score)"}}


def _serves_the_export_as_is(build: BuildOptions) -> bool:
    """Whether Triton serves the validated fp32 graph the way the validation ran it: fp32, no
    offline optimisation, ONNX Runtime in the python backend on the CPU. Running it again for
    the gate would only repeat the same numbers."""
    return (
        build.precision is Precision.FP32
        and build.format is ArtifactFormat.ONNX
        and build.resolved_optimize() is Optimize.NONE
        and build.backend is Backend.PYTHON
        and build.resolved_device() is Device.CPU
    )


def _regate(
    fidelity: FidelityReport,
    reference: Reference,
    candidate: dict[str, np.ndarray],
    build: BuildOptions,
    fp32_bounds: Thresholds,
) -> FidelityReport:
    """The gate of an export served as it is: the export's own report, or, where the user set
    other fp32 bounds for the gate than for the export, the same outputs judged by those."""
    if thresholds_for(Precision.FP32.value, build.thresholds) == thresholds_for(Precision.FP32.value, fp32_bounds):
        return fidelity
    return evaluate(
        fidelity.task,
        Precision.FP32.value,
        reference.values,
        candidate[reference.output],
        reference.rows,
        thresholds=build.thresholds,
        runner=fidelity.runner,
        artefact=fidelity.artefact,
    )


def _gate(
    built: BuiltEncoder, tokens: TokenBatch, reference: Reference, task: Task, build: BuildOptions
) -> FidelityReport:
    """The served artefact on the same rows, through the runtime, against PyTorch."""
    run = run_for_gate(built, tokens)
    if run.outputs is None:
        return not_measured(
            task.value,
            build.precision.value,
            len(reference.rows),
            run.skipped,
            thresholds=build.thresholds,
            runner=run.runner,
            artefact=build.describe(),
        )
    return evaluate(
        task.value,
        build.precision.value,
        reference.values,
        run.outputs[reference.output],
        reference.rows,
        thresholds=build.thresholds,
        runner=run.runner,
        artefact=build.describe(),
    )


def _calibration_tokens(tokenizer: TextTokenizer, task: Task, build: BuildOptions) -> TokenBatch:
    """The calibration texts as the served tokenizer step turns them into tokens; a reranker
    sees them as (query, document) pairs of neighbouring texts."""
    from encoder_triton.export.precision.calibration import CALIBRATION_TEXTS

    texts = list(build.calibration_texts or CALIBRATION_TEXTS)
    if task is Task.RERANK:
        return tokenizer.encode_pairs(texts[0::2][: len(texts) // 2], texts[1::2][: len(texts) // 2])
    return tokenizer.encode(texts)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and p.name != REPORT_FILE)


def _validation_rows(build: BuildOptions, task: Task) -> UserTexts:
    """The rows the export is validated and gated on: the user's (--validation-texts) or the
    built-in reference texts; a reranker's are (query, document) pairs, neighbouring texts
    paired when the user's file names no queries."""
    rows = build.validation_texts
    if rows is None:
        if task is Task.RERANK:
            queries, documents = reference_pairs()
            return UserTexts(tuple(documents), queries=tuple(queries))
        return UserTexts(REFERENCE_TEXTS)
    if task is Task.RERANK and rows.queries is None:
        half = len(rows.texts) // 2
        return replace(rows, texts=rows.texts[1::2][:half], queries=rows.texts[0::2][:half], labels=None)
    return rows


def _validation_report(rows: UserTexts, reference: Reference, head: Head) -> dict[str, Any]:
    """Which texts the gate judged (the gate checks the served labels against PyTorch's); with
    gold labels, how often PyTorch itself picks them, for context."""
    report: dict[str, Any] = {"source": rows.source or "built-in", "rows": len(rows.texts)}
    if rows.labels is not None and isinstance(head, ClassificationHead):
        report["pytorch_gold_label_accuracy"] = label_accuracy(reference.values, rows.labels, head.labels)
    return report


def _candidate_tokens(tokenizer: TextTokenizer, rows: UserTexts) -> Any:
    if rows.queries is not None:
        return tokenizer.encode_pairs(list(rows.queries), list(rows.texts))
    return tokenizer.encode(list(rows.texts))


def _warmup_sample(tokenizer: TextTokenizer, task: Task) -> WarmupSample:
    if task is Task.RERANK:
        tokens = tokenizer.encode_pairs([WARMUP_QUERY], [WARMUP_TEXT]).arrays()
        return WarmupSample(WARMUP_TEXT, {k: v[0] for k, v in tokens.items()}, query=WARMUP_QUERY)
    tokens = tokenizer.encode([WARMUP_TEXT]).arrays()
    return WarmupSample(WARMUP_TEXT, {k: v[0] for k, v in tokens.items()})
