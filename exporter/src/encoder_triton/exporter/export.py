"""The export pipeline: resolve, detect the task, export ONNX, validate against PyTorch, write.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.contract import Task
from encoder_triton.exporter.architectures import ExportSpec, architecture_for
from encoder_triton.exporter.errors import FidelityError
from encoder_triton.exporter.heads import ClassificationHead, RerankHead, classification_head
from encoder_triton.exporter.onnx_export import Head, export_onnx, save_tokenizer
from encoder_triton.exporter.pooling import Pooling, read_pooling
from encoder_triton.exporter.reference_texts import REFERENCE_QUERIES, REFERENCE_TEXTS, reference_pairs
from encoder_triton.exporter.repository import EncoderSpec, ServingOptions, WarmupSample, write_repository
from encoder_triton.exporter.sources import ModelSource, resolve_model
from encoder_triton.exporter.tasks import detect_task, num_labels
from encoder_triton.exporter.validation import (
    FP32_MAX_ABS_ERROR,
    FP32_MIN_COSINE,
    FidelityReport,
    compare_embeddings,
    compare_scores,
    reference_embeddings,
    reference_logits,
)
from encoder_triton.runtime.encoder import OnnxEncoder
from encoder_triton.runtime.tokenization import TextTokenizer

REPORT_FILE = "export_report.json"
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
    fidelity: FidelityReport
    timings_s: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    task: Task = Task.EMBED


def export_model(
    model: str,
    *,
    repo: Path,
    name: str | None = None,
    task: Task | str | None = None,
    max_length: int | None = None,
    options: ServingOptions | None = None,
    min_cosine: float = FP32_MIN_COSINE,
    max_abs_error: float = FP32_MAX_ABS_ERROR,
    progress: Progress = _silent,
) -> ExportResult:
    """Export MODEL (hub id or folder) into `repo` as an ensemble answering its task.

    `task` (embed, classify, rerank) overrides the detection from the model's files. Raises
    FidelityError, listing every failing text, when the ONNX export disagrees with the PyTorch
    reference (embeddings below `min_cosine`, probabilities or scores off by more than
    `max_abs_error`); nothing is written to `repo` then.
    """
    options = options or ServingOptions()
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
    name = name or source.default_name
    max_length = max_length or source.max_length

    with tempfile.TemporaryDirectory(prefix="encoder-triton-export-") as tmp:
        staging = Path(tmp)
        encoder_dir, tokenizer_dir = staging / "encoder", staging / "tokenizer"
        with step("onnx_export", f"Exporting ONNX ({architecture.model_type}, {choice.task.value})"):
            onnx_artifact = export_onnx(source, encoder_dir, head, architecture=architecture)
            tokenizer_artifact = save_tokenizer(source, tokenizer_dir)
        checked = (
            f"{len(reference_pairs()[0])} pairs" if choice.task is Task.RERANK else f"{len(REFERENCE_TEXTS)} texts"
        )
        with step("validate", f"Validating against PyTorch on {checked}"):
            tokenizer = TextTokenizer.from_file(
                tokenizer_artifact.path,
                max_length=max_length,
                pad_id=tokenizer_artifact.pad_id,
                with_token_type_ids=contract.TOKEN_TYPE_IDS in onnx_artifact.input_names,
            )
            # Exactly what Triton's steps compute: the same runtime code on the same files.
            candidate = OnnxEncoder(onnx_artifact.path).encode_outputs(_candidate_tokens(tokenizer, choice.task))
            fidelity = _validate(
                source,
                architecture,
                head,
                candidate,
                max_length=max_length,
                min_cosine=min_cosine,
                max_abs_error=max_abs_error,
            )
        if not fidelity.passed:
            raise FidelityError(f"the ONNX export of {model!r} disagrees with PyTorch:", fidelity.failures)

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
        )
        report = {
            "source_model": model,
            "task": spec.task.value,
            "task_reason": choice.reason,
            "architecture": architecture.model_type,
            "precision": "fp32",
            "format": "onnx",
            "opset": onnx_artifact.opset,
            **_head_report(head),
            "dimension": spec.dimension,
            "max_length": max_length,
            "encoder_inputs": list(spec.encoder_inputs),
            "encoder_outputs": list(onnx_artifact.output_names),
            "size_bytes": sum(p.stat().st_size for p in encoder_dir.iterdir()),
            "fidelity": fidelity.to_dict(),
            "timings_s": timings,
            "notes": notes,
        }
        (encoder_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        warmup = _warmup_sample(tokenizer, choice.task)
        with step("write", f"Writing {repo}/{name}"):
            dirs = write_repository(
                repo, name, spec, options, tokenizer_dir=tokenizer_dir, encoder_dir=encoder_dir, warmup=warmup
            )
    return ExportResult(name=name, model_dirs=dirs, fidelity=fidelity, timings_s=timings, notes=notes, task=choice.task)


def _head(source: ModelSource, task: Task) -> Head:
    if task is Task.EMBED:
        return read_pooling(source.path)
    if task is Task.CLASSIFY:
        return classification_head(source.config)
    return RerankHead(num_labels=num_labels(source.config))


def _head_report(head: Head) -> dict[str, Any]:
    if isinstance(head, Pooling):
        return {"pooling": {"modes": list(head.modes), "normalize": head.normalize}}
    if isinstance(head, ClassificationHead):
        return {"labels": list(head.labels), "activation": head.activation.value}
    return {"rerank": {"num_labels": head.num_labels, "score": "sigmoid(raw_score)"}}


def _validate(
    source: ModelSource,
    architecture: ExportSpec,
    head: Head,
    candidate: dict[str, np.ndarray],
    *,
    max_length: int,
    min_cosine: float,
    max_abs_error: float,
) -> FidelityReport:
    """The candidate's outputs against the PyTorch reference of the same task."""
    if isinstance(head, Pooling):
        reference = reference_embeddings(
            source.path,
            REFERENCE_TEXTS,
            max_length=max_length,
            pooling=head,
            sentence_transformer=source.is_sentence_transformer,
            model_class=architecture.reference_class(Task.EMBED),
        )
        return compare_embeddings(reference, candidate[contract.EMBEDDING], REFERENCE_TEXTS, min_cosine=min_cosine)
    if isinstance(head, ClassificationHead):
        logits = reference_logits(
            source.path,
            REFERENCE_TEXTS,
            max_length=max_length,
            model_class=architecture.reference_class(Task.CLASSIFY),
        )
        return compare_scores(
            head.probabilities(logits),
            candidate[contract.PROBABILITIES],
            REFERENCE_TEXTS,
            max_abs_error=max_abs_error,
        )
    queries, documents = reference_pairs()
    logits = reference_logits(
        source.path,
        documents,
        queries=queries,
        max_length=max_length,
        model_class=architecture.reference_class(Task.RERANK),
    )
    scores = 1.0 / (1.0 + np.exp(-head.raw_scores(logits)))
    rows = [f"{q[:20]} | {d}" for q, d in zip(queries, documents, strict=True)]
    return compare_scores(scores, candidate[contract.SCORE], rows, max_abs_error=max_abs_error)


def _candidate_tokens(tokenizer: TextTokenizer, task: Task) -> Any:
    if task is Task.RERANK:
        return tokenizer.encode_pairs(*reference_pairs())
    return tokenizer.encode(list(REFERENCE_TEXTS))


def _warmup_sample(tokenizer: TextTokenizer, task: Task) -> WarmupSample:
    if task is Task.RERANK:
        tokens = tokenizer.encode_pairs([WARMUP_QUERY], [WARMUP_TEXT]).arrays()
        return WarmupSample(WARMUP_TEXT, {k: v[0] for k, v in tokens.items()}, query=WARMUP_QUERY)
    tokens = tokenizer.encode([WARMUP_TEXT]).arrays()
    return WarmupSample(WARMUP_TEXT, {k: v[0] for k, v in tokens.items()})
