"""Hugging Face folder -> ONNX encoder with pooling folded in, plus its fast tokenizer.

torch -> ONNX is delegated to optimum's exporter (it knows each architecture's inputs, dynamic
axes and export patches); we take the bare encoder (`last_hidden_state`) and fold pooling and
normalisation into the graph ourselves, so every architecture gets the same, tested pooling.

Example:
    >>> artifact = export_onnx(source, staging_dir, pooling)  # doctest: +SKIP
    >>> artifact.input_names  # doctest: +SKIP
    ('input_ids', 'attention_mask', 'token_type_ids')
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from encoder_triton import contract
from encoder_triton.exporter.errors import UnsupportedModelError
from encoder_triton.exporter.pooling import Pooling, fold_pooling
from encoder_triton.exporter.sources import ModelSource

ENCODER_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
#: ONNX protobufs cannot exceed 2 GiB; bigger models keep weights in an external file.
_PROTO_LIMIT = 1_800_000_000


@dataclass(frozen=True)
class OnnxArtifact:
    path: Path
    input_names: tuple[str, ...]
    opset: int


@dataclass(frozen=True)
class TokenizerArtifact:
    path: Path
    pad_id: int


def export_onnx(source: ModelSource, out_dir: Path, pooling: Pooling, *, opset: int | None = None) -> OnnxArtifact:
    """Export `source` to `out_dir/model.onnx` with output EMBEDDING [batch, dim]."""
    import onnx
    from optimum.exporters.onnx import main_export

    with tempfile.TemporaryDirectory(prefix="encoder-triton-onnx-") as tmp, _quiet_exporters():
        try:
            main_export(
                str(source.path),
                output=tmp,
                task="feature-extraction",
                library_name="transformers",
                opset=opset,
                do_validation=False,  # we validate the finished graph against PyTorch ourselves
                device="cpu",
            )
        except (KeyError, ValueError, NotImplementedError) as exc:
            raise UnsupportedModelError(
                f"optimum cannot export {source.reference!r} (model_type {source.config.get('model_type')!r}): {exc}"
            ) from exc
        model = onnx.load(str(Path(tmp) / ENCODER_FILE))
    inputs = tuple(i.name for i in model.graph.input)
    unknown = set(inputs) - set(contract.ENCODER_INPUTS)
    if unknown or contract.ATTENTION_MASK not in inputs:
        raise UnsupportedModelError(
            f"the exported encoder takes {inputs}; encoder-triton feeds {contract.ENCODER_INPUTS}"
        )
    model = fold_pooling(
        model, hidden="last_hidden_state", mask=contract.ATTENTION_MASK, pooling=pooling, output=contract.EMBEDDING
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ENCODER_FILE
    external = model.ByteSize() > _PROTO_LIMIT
    onnx.save(model, str(path), save_as_external_data=external, location=ENCODER_FILE + ".data" if external else None)
    opset_version = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return OnnxArtifact(path=path, input_names=inputs, opset=opset_version)


@contextlib.contextmanager
def _quiet_exporters() -> Iterator[None]:
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
