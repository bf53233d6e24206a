"""The architecture registry: `model_type` -> how that architecture becomes an ONNX graph.

Each supported architecture is registered once, with the decorator, on a small class (the
pattern of optimum's `TasksManager`). Most delegate torch -> ONNX to optimum's exporter, which
knows their inputs, dynamic axes and export patches; where optimum cannot export what we serve
(T5's encoder on its own), the class writes the export itself. Every spec produces a graph whose
single output is `last_hidden_state` (embed) or `logits` (classify, rerank); pooling and
activations are folded on top by `pooling` and `heads`. A meta-test fails when a registered
architecture has no tiny-model test.

Example:
    >>> spec = architecture_for({"model_type": "xlm-roberta"})
    >>> type(spec).__name__, sorted(t.value for t in spec.tasks)
    ('XLMRobertaExport', ['classify', 'embed', 'rerank'])
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from encoder_triton.contract import Task
from encoder_triton.errors import UnsupportedModelError
from encoder_triton.export.source.resolve import ModelSource

#: The raw graph's output for each task, before pooling / activation are folded in.
HIDDEN_STATE = "last_hidden_state"
LOGITS = "logits"
ALL_TASKS = frozenset(Task)

_REGISTRY: dict[str, ExportSpec] = {}
_Spec = TypeVar("_Spec", bound=type["ExportSpec"])


def raw_output(task: Task) -> str:
    return HIDDEN_STATE if task is Task.EMBED else LOGITS


@dataclass(frozen=True)
class ExportSpec:
    """How one architecture is exported, and how its PyTorch reference is loaded."""

    model_type: str
    tasks: frozenset[Task] = ALL_TASKS
    registered: bool = True

    def export(self, source: ModelSource, out_dir: Path, task: Task, *, opset: int | None = None) -> Path:
        """Write `out_dir/model.onnx` with output `raw_output(task)`; returns its path."""
        raise NotImplementedError

    def reference_class(self, task: Task) -> str:
        """The `transformers` class whose forward the export must reproduce."""
        return "AutoModel" if task is Task.EMBED else "AutoModelForSequenceClassification"

    def check_task(self, task: Task) -> None:
        if task not in self.tasks:
            served = ", ".join(sorted(t.value for t in self.tasks))
            raise UnsupportedModelError(
                f"{self.model_type} models can be exported for {served}, not {task.value}: "
                "pass --task with one of those"
            )


def register(model_type: str, *, tasks: Iterable[Task] = ALL_TASKS) -> Callable[[_Spec], _Spec]:
    """Class decorator: register the spec class for `model_type` (once; a second is a bug)."""

    def decorate(cls: _Spec) -> _Spec:
        if model_type in _REGISTRY:
            owner = type(_REGISTRY[model_type]).__name__
            raise ValueError(f"model_type {model_type!r} is already registered by {owner}")
        _REGISTRY[model_type] = cls(model_type=model_type, tasks=frozenset(tasks))
        return cls

    return decorate


def registered_architectures() -> dict[str, ExportSpec]:
    """Every registered spec by model_type (a copy)."""
    return dict(_REGISTRY)


def architecture_for(config: dict[str, Any]) -> ExportSpec:
    """The spec for config.json's `model_type`; an unregistered type gets optimum's generic
    export with `registered=False` (the export notes say so; validation still gates it)."""
    model_type = str(config.get("model_type", ""))
    if not model_type:
        raise UnsupportedModelError("config.json has no model_type: is this a Hugging Face transformers model?")
    return _REGISTRY.get(model_type) or OptimumExport(model_type=model_type, registered=False)


class OptimumExport(ExportSpec):
    """torch -> ONNX through optimum's `main_export` (feature-extraction / text-classification)."""

    def export(self, source: ModelSource, out_dir: Path, task: Task, *, opset: int | None = None) -> Path:
        import shutil

        from optimum.exporters.onnx import main_export

        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="encoder-triton-optimum-") as tmp:
            try:
                main_export(
                    str(source.path),
                    output=tmp,
                    task="feature-extraction" if task is Task.EMBED else "text-classification",
                    library_name="transformers",  # the bare model: pooling is ours
                    opset=opset,
                    do_validation=False,  # we validate the finished graph against PyTorch ourselves
                    device="cpu",
                )
            except (KeyError, ValueError, NotImplementedError) as exc:
                raise UnsupportedModelError(
                    f"optimum cannot export {source.reference!r} (model_type {self.model_type!r}) "
                    f"for {task.value}: {exc}"
                ) from exc
            for item in Path(tmp).iterdir():
                if item.name.startswith("model.onnx"):  # the graph and any external weights
                    shutil.move(str(item), out_dir / item.name)
        return out_dir / "model.onnx"


@register("bert")
class BertExport(OptimumExport):
    """BERT and its distillations (MiniLM, BGE, E5, GTE small models): WordPiece, token types."""


@register("distilbert")
class DistilBertExport(OptimumExport):
    """DistilBERT: no token_type_ids in its graph."""


@register("roberta")
class RobertaExport(OptimumExport):
    """RoBERTa: byte-level BPE; positions count from pad_token_id + 1, so the pad id matters."""


@register("xlm-roberta")
class XLMRobertaExport(OptimumExport):
    """XLM-RoBERTa (multilingual E5, bge-m3, bge-reranker): SentencePiece/Unigram vocabulary."""


@register("mpnet")
class MPNetExport(OptimumExport):
    """MPNet (all-mpnet-base-v2): relative position buckets, RoBERTa-style padded positions."""


@register("deberta-v2")
class DebertaV2Export(OptimumExport):
    """DeBERTa-v2 and -v3 (toxicity and NLI classifiers): disentangled relative attention;
    token_type_ids only when `type_vocab_size > 0`."""


@register("modernbert")
class ModernBertExport(OptimumExport):
    """ModernBERT: rotary positions, alternating local / global attention, long context."""


@register("electra")
class ElectraExport(OptimumExport):
    """ELECTRA discriminators (e.g. ms-marco cross-encoders): BERT-shaped, own embedding size."""


@register("t5", tasks=(Task.EMBED,))
class T5EncoderExport(ExportSpec):
    """T5's encoder alone (`T5EncoderModel`, as sentence-T5 and T5-based scorers use it).

    optimum's T5 configs export the encoder-decoder pair for generation; an embedder needs only
    the encoder, so this spec traces `T5EncoderModel` itself with named dynamic axes.
    """

    def reference_class(self, task: Task) -> str:
        return "T5EncoderModel"

    def export(self, source: ModelSource, out_dir: Path, task: Task, *, opset: int | None = None) -> Path:
        import torch
        from transformers import T5EncoderModel

        self.check_task(task)
        # Eager attention: no data-dependent shortcuts (an all-ones mask) baked into the trace.
        model = T5EncoderModel.from_pretrained(str(source.path), attn_implementation="eager").eval()

        class Encoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        # Padding in the example input, so the traced graph keeps the masking path.
        input_ids = torch.tensor([[5, 6, 7, 8, 1], [5, 6, 1, 0, 0]], dtype=torch.int64)
        attention_mask = (input_ids != 0).to(torch.int64)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "model.onnx"
        dynamic = {0: "batch_size", 1: "sequence_length"}
        with torch.inference_mode():
            torch.onnx.export(
                Encoder(),
                (input_ids, attention_mask),
                str(path),
                input_names=["input_ids", "attention_mask"],
                output_names=[HIDDEN_STATE],
                dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, HIDDEN_STATE: dynamic},
                opset_version=opset or 17,
                dynamo=False,  # the TorchScript exporter: no onnxscript dependency
            )
        return path
