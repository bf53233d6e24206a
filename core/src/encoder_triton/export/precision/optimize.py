"""ONNX Runtime's transformer optimiser applied offline: attention, LayerNorm and GELU fusions.

Offline fusion matters before int8 quantisation (the quantiser then sees one `Attention` per
layer and emits `QAttention`) and before fp16 conversion for the GPU. Only the Python fusions
run (`opt_level=0`): the result holds standard ops plus ONNX Runtime contrib ops and loads on
any of its providers; TensorRT does not take contrib ops, so TensorRT builds start from the
plain graph.

On CPU one fusion is left out: `SkipLayerNormalization` (residual Add + LayerNorm). Its CPU
kernel (ONNX Runtime 1.32) is a scalar loop: 1.02 ms against 0.16 ms for Add + LayerNormalization
on [8, 128, 384] (2 threads), and 12 of them were a quarter of the int8 model's time
(10.6 of 41.7 ms at batch 8 x 128 tokens). ONNX Runtime also fuses Add + LayerNormalization
into it by itself when it loads a graph, so the CPU graph writes the residual sum as `Sum`,
which the load-time fusion does not match (same arithmetic). The GPU keeps the fused op.

The optimiser needs the model family, the number of heads and the hidden size; they come from
`config.json`, under the names each architecture uses.

Example:
    >>> optimizer_settings({"model_type": "distilbert", "n_heads": 12, "dim": 768})
    OptimizerSettings(model_type='bert', num_heads=12, hidden_size=768, known=True)
    >>> result = optimize_onnx(Path("model.onnx"), Path("opt.onnx"), config)  # doctest: +SKIP
    >>> result.fused["Attention"]  # doctest: +SKIP
    6
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Hugging Face `model_type` -> the optimiser's model family. BERT-like encoders share the BERT
#: fusions (optimum's ORTConfigManager maps them the same way).
_FAMILIES = {
    "bert": "bert",
    "albert": "bert",
    "big_bird": "bert",
    "camembert": "bert",
    "deberta": "bert",
    "deberta-v2": "bert",
    "distilbert": "bert",
    "electra": "bert",
    "ernie": "bert",
    "mpnet": "bert",
    "nomic_bert": "bert",
    "roberta": "bert",
    "xlm-roberta": "bert",
    "xlm-roberta-xl": "bert",
    "bart": "bart",
    "t5": "t5",
    "mt5": "t5",
    "clip": "clip",
}
_HEADS_KEYS = ("num_attention_heads", "n_heads", "num_heads", "encoder_attention_heads")
_HIDDEN_KEYS = ("hidden_size", "dim", "d_model")


@dataclass(frozen=True)
class OptimizerSettings:
    model_type: str
    num_heads: int  # 0 lets the optimiser read it from the graph
    hidden_size: int
    known: bool  # False: the family was guessed, fusions may not match


def optimizer_settings(config: dict[str, Any]) -> OptimizerSettings:
    """What `optimize_model` needs, read from a model's config.json."""
    model_type = str(config.get("model_type", ""))
    family = _FAMILIES.get(model_type)
    heads = next((int(config[k]) for k in _HEADS_KEYS if k in config), 0)
    hidden = next((int(config[k]) for k in _HIDDEN_KEYS if k in config), 0)
    return OptimizerSettings(model_type=family or "bert", num_heads=heads, hidden_size=hidden, known=family is not None)


@dataclass(frozen=True)
class OptimizedGraph:
    path: Path
    settings: OptimizerSettings
    for_gpu: bool
    #: Fused operator -> how many were created (zeros left out).
    fused: dict[str, int] = field(default_factory=dict)
    #: Residual Adds written as Sum to keep them out of SkipLayerNormalization (CPU only).
    residual_sums: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer_model_type": self.settings.model_type,
            "num_heads": self.settings.num_heads,
            "hidden_size": self.settings.hidden_size,
            "for_gpu": self.for_gpu,
            "fused": self.fused,
            "residual_sums": self.residual_sums,
        }


def optimize_onnx(src: Path, dst: Path, config: dict[str, Any], *, for_gpu: bool = False) -> OptimizedGraph:
    """Fuse `src` into `dst` for the model family named in `config`.

    `for_gpu` selects fusions meant for CUDA (used before fp16 conversion).
    """
    import logging

    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    settings = optimizer_settings(config)
    fusions = FusionOptions(settings.model_type)
    if not for_gpu:
        fusions.enable_skip_layer_norm = False
        fusions.enable_bias_skip_layer_norm = False
    # The optimiser logs every pattern it tried at WARNING; the fused counts say what matters.
    logger = logging.getLogger("onnxruntime.transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        model = optimize_model(
            str(src),
            model_type=settings.model_type,
            num_heads=settings.num_heads,
            hidden_size=settings.hidden_size,
            opt_level=0,  # Python fusions only: the graph stays portable across providers
            use_gpu=for_gpu,
            optimization_options=fusions,
        )
    finally:
        logger.setLevel(level)
    fused = {op: int(n) for op, n in model.get_fused_operator_statistics().items() if n}
    residual_sums = 0 if for_gpu else residual_adds_as_sum(model.model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # Big models keep their weights beside the graph (protobuf stops at 2 GiB); so does the result.
    external = src.with_name(src.name + ".data").exists()
    model.save_model_to_file(str(dst), use_external_data_format=external)
    return OptimizedGraph(path=dst, settings=settings, for_gpu=for_gpu, fused=fused, residual_sums=residual_sums)


def residual_adds_as_sum(model: Any) -> int:
    """Rewrite each Add that feeds a LayerNormalization (and nothing else) as a two-input `Sum`,
    so that ONNX Runtime does not fuse the pair into its slow CPU SkipLayerNormalization at load.
    Returns how many were rewritten."""
    consumers: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    producers = {output: node for node in model.graph.node for output in node.output}
    rewritten = 0
    for node in model.graph.node:
        if node.op_type != "LayerNormalization" or not node.input:
            continue
        add = producers.get(node.input[0])
        if add is not None and add.op_type == "Add" and add.domain in ("", "ai.onnx"):
            if consumers.get(add.output[0]) == 1:
                add.op_type = "Sum"
                rewritten += 1
    return rewritten
