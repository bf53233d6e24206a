"""ONNX Runtime's transformer optimiser applied offline: attention, LayerNorm and GELU fusions.

On CPU, ONNX Runtime fuses the same patterns itself when it loads a plain graph, so an
optimised fp32 graph runs no faster there (DESIGN.md). Offline fusion matters before int8
quantisation (the quantiser then sees one `Attention` per layer and emits `QAttention`) and
before fp16 conversion for the GPU. Only the Python fusions run (`opt_level=0`): the result
holds standard ops plus ONNX Runtime contrib ops and loads on any of its providers; TensorRT
does not take contrib ops, so TensorRT builds start from the plain graph.

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer_model_type": self.settings.model_type,
            "num_heads": self.settings.num_heads,
            "hidden_size": self.settings.hidden_size,
            "for_gpu": self.for_gpu,
            "fused": self.fused,
        }


def optimize_onnx(src: Path, dst: Path, config: dict[str, Any], *, for_gpu: bool = False) -> OptimizedGraph:
    """Fuse `src` into `dst` for the model family named in `config`.

    `for_gpu` selects fusions meant for CUDA (used before fp16 conversion).
    """
    import logging

    from onnxruntime.transformers.optimizer import optimize_model

    settings = optimizer_settings(config)
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
        )
    finally:
        logger.setLevel(level)
    fused = {op: int(n) for op, n in model.get_fused_operator_statistics().items() if n}
    dst.parent.mkdir(parents=True, exist_ok=True)
    # Big models keep their weights beside the graph (protobuf stops at 2 GiB); so does the result.
    external = src.with_name(src.name + ".data").exists()
    model.save_model_to_file(str(dst), use_external_data_format=external)
    return OptimizedGraph(path=dst, settings=settings, for_gpu=for_gpu, fused=fused)
