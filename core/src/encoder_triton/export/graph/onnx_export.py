"""Hugging Face folder -> ONNX encoder with its task's head folded in, plus its fast tokenizer.

torch -> ONNX is the architecture's registered spec (`architectures`, mostly optimum's
exporter); on top of its raw output we fold the head ourselves, so every architecture gets the
same, tested post-processing: pooling + normalisation for embed (output EMBEDDING), softmax /
sigmoid for classify (LOGITS, PROBABILITIES), sigmoid for rerank (SCORE, RAW_SCORE).

Example:
    >>> artifact = export_onnx(source, staging_dir, pooling)  # doctest: +SKIP
    >>> artifact.input_names, artifact.output_names  # doctest: +SKIP
    (('input_ids', 'attention_mask', 'token_type_ids'), ('EMBEDDING',))
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from encoder_triton import contract
from encoder_triton.contract import Task
from encoder_triton.errors import UnsupportedModelError
from encoder_triton.export.graph.heads import ClassificationHead, RerankHead, fold_classification, fold_rerank
from encoder_triton.export.graph.pooling import Pooling, fold_pooling
from encoder_triton.export.source.architectures import ExportSpec, architecture_for, raw_output
from encoder_triton.export.source.resolve import ModelSource

#: What sits on top of the encoder: pooling (embed), a classifier's or a reranker's activation.
Head = Pooling | ClassificationHead | RerankHead

ENCODER_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
#: ONNX protobufs cannot exceed 2 GiB; bigger models keep weights in an external file.
_PROTO_LIMIT = 1_800_000_000


@dataclass(frozen=True)
class OnnxArtifact:
    path: Path
    input_names: tuple[str, ...]
    opset: int
    output_names: tuple[str, ...] = (contract.EMBEDDING,)


@dataclass(frozen=True)
class TokenizerArtifact:
    path: Path
    pad_id: int


def head_task(head: Head) -> Task:
    """The task a head answers."""
    if isinstance(head, Pooling):
        return Task.EMBED
    return Task.CLASSIFY if isinstance(head, ClassificationHead) else Task.RERANK


def export_onnx(
    source: ModelSource,
    out_dir: Path,
    head: Head,
    *,
    opset: int | None = None,
    architecture: ExportSpec | None = None,
) -> OnnxArtifact:
    """Export `source` to `out_dir/model.onnx` with the outputs of `head`'s task (see the contract)."""
    import onnx

    task = head_task(head)
    spec = architecture or architecture_for(source.config)
    spec.check_task(task)
    with tempfile.TemporaryDirectory(prefix="encoder-triton-onnx-") as tmp, quiet_exporters():
        raw_path = spec.export(source, Path(tmp), task, opset=opset)
        model = onnx.load(str(raw_path))  # loads external weights too
    inputs = tuple(i.name for i in model.graph.input)
    unknown = set(inputs) - set(contract.ENCODER_INPUTS)
    if unknown or contract.ATTENTION_MASK not in inputs:
        raise UnsupportedModelError(
            f"the exported encoder takes {inputs}; encoder-triton feeds {contract.ENCODER_INPUTS}"
        )
    raw = raw_output(task)
    if raw not in {o.name for o in model.graph.output}:
        found = [o.name for o in model.graph.output]
        raise UnsupportedModelError(f"the exported graph has outputs {found}, expected {raw!r} for {task.value}")
    if isinstance(head, Pooling):
        model = fold_pooling(model, hidden=raw, mask=contract.ATTENTION_MASK, pooling=head, output=contract.EMBEDDING)
    elif isinstance(head, ClassificationHead):
        model = fold_classification(model, logits=raw, head=head)
    else:
        model = fold_rerank(model, logits=raw, head=head)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ENCODER_FILE
    external = model.ByteSize() > _PROTO_LIMIT
    onnx.save(model, str(path), save_as_external_data=external, location=ENCODER_FILE + ".data" if external else None)
    opset_version = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return OnnxArtifact(
        path=path,
        input_names=inputs,
        opset=opset_version,
        output_names=tuple(o.name for o in model.graph.output),
    )


@contextlib.contextmanager
def quiet_exporters() -> Iterator[None]:
    """Silence torch/transformers tracer chatter that says nothing actionable to our users."""
    import transformers
    from optimum.utils import logging as optimum_logging

    previous = transformers.logging.get_verbosity(), optimum_logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    optimum_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers.logging.set_verbosity(previous[0])
        optimum_logging.set_verbosity(previous[1])


def save_tokenizer(source: ModelSource, out_dir: Path) -> TokenizerArtifact:
    """Save the model's fast tokenizer as one `tokenizer.json` (converting a slow one if needed)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.path), use_fast=True)
    if not getattr(tokenizer, "is_fast", False):
        raise UnsupportedModelError(
            f"{source.reference!r} has no fast tokenizer and transformers cannot convert its slow one"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / TOKENIZER_FILE
    tokenizer.backend_tokenizer.save(str(path))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return TokenizerArtifact(path=path, pad_id=int(pad_id))
