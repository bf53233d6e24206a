"""Sentence pooling and L2 normalisation, read from the model's files and folded into ONNX.

optimum exports the bare encoder (`last_hidden_state`); `fold_pooling` appends the pooling the
model's own sentence-transformers config asks for (`1_Pooling/config.json`, `2_Normalize` in
`modules.json`), so Triton's encoder step returns finished embeddings in one graph.
Normalisation is written as `x / max(sqrt(sum(x*x)), eps)` rather than opset-18 `ReduceL2`,
which ORT's offline transformer optimiser cannot infer shapes through.

Example:
    >>> spec = read_pooling("path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> spec
    Pooling(modes=('mean',), normalize=True, declared=True)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: sentence-transformers' order of concatenation when several modes are on.
_ST_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_lasttoken": "lasttoken",
}
MODES = tuple(_ST_MODES.values())
#: sentence-transformers v5's `pooling_mode` names, where they differ from ours.
_V5_MODES = {"mean_tokens": "mean", "cls_token": "cls", "max_tokens": "max", "mean_sqrt_len_tokens": "mean_sqrt_len"}


@dataclass(frozen=True)
class Pooling:
    """How token vectors become one sentence vector. `declared` is False for a default guess."""

    modes: tuple[str, ...] = ("mean",)
    normalize: bool = False
    declared: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.modes) - set(MODES)
        if unknown or not self.modes:
            raise ValueError(f"pooling modes must be among {MODES}, got {self.modes}")


def read_pooling(model_dir: str | Path) -> Pooling:
    """Pooling from a sentence-transformers folder; mean without normalisation otherwise."""
    root = Path(model_dir)
    modules_file = root / "modules.json"
    if not modules_file.is_file():
        return Pooling()
    modules = json.loads(modules_file.read_text())
    pooling_dir = next((m["path"] for m in modules if m.get("type", "").endswith(".Pooling")), None)
    normalize = any(m.get("type", "").endswith(".Normalize") for m in modules)
    if pooling_dir is None:
        return Pooling(normalize=normalize)
    config = json.loads((root / pooling_dir / "config.json").read_text())
    modes = tuple(mode for key, mode in _ST_MODES.items() if config.get(key))
    if "pooling_mode" in config and not modes:  # sentence-transformers v5 names the mode(s)
        named = config["pooling_mode"]
        modes = tuple(_V5_MODES.get(m, m) for m in ([named] if isinstance(named, str) else named))
    return Pooling(modes=modes or ("mean",), normalize=normalize, declared=True)


def fold_pooling(model: Any, *, hidden: str, mask: str, pooling: Pooling, output: str) -> Any:
    """Return `model` with `output` [batch, dim] = pooling(hidden, mask), replacing all outputs."""
    import onnx
    from onnx import TensorProto, helper

    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: Any, dtype: int = TensorProto.FLOAT) -> str:
        full = f"et_pool/{name}"
        dims = [len(value)] if isinstance(value, list) else []
        vals = value if isinstance(value, list) else [value]
        inits.append(helper.make_tensor(full, dtype, dims, vals))
        return full

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        out = f"et_pool/{name}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    axis1 = const("axis1", [1], TensorProto.INT64)
    axis_last = const("axis_last", [-1], TensorProto.INT64)
    mask_f = node("Cast", [mask], "mask_f", to=TensorProto.FLOAT)
    mask_e = node("Unsqueeze", [mask_f, axis_last], "mask_e")  # [B, S, 1]
    count = node("ReduceSum", [mask_e, axis1], "count", keepdims=0)  # [B, 1]
    count = node("Max", [count, const("min_count", 1e-9)], "count_clamped")

    def reduce_max(x: str, name: str) -> str:
        if opset >= 18:
            return node("ReduceMax", [x, axis1], name, keepdims=0)
        return node("ReduceMax", [x], name, axes=[1], keepdims=0)

    parts = []
    for mode in pooling.modes:
        if mode == "cls":
            parts.append(node("Gather", [hidden, const("zero", 0, TensorProto.INT64)], "cls", axis=1))
        elif mode == "max":
            is_pad = node("Equal", [mask_e, const("zero_f", 0.0)], "is_pad")
            masked = node("Where", [is_pad, const("neg_big", -1e9), hidden], "max_masked")
            parts.append(reduce_max(masked, "max"))
        elif mode in ("mean", "mean_sqrt_len"):
            summed = node(
                "ReduceSum", [node("Mul", [hidden, mask_e], f"{mode}_masked"), axis1], f"{mode}_sum", keepdims=0
            )
            divisor = count if mode == "mean" else node("Sqrt", [count], "sqrt_len")
            parts.append(node("Div", [summed, divisor], mode))
        elif mode == "lasttoken":
            # Right padding: the last real token sits at sum(mask) - 1.
            last = node("Sub", [node("ReduceSum", [mask_f, axis1], "len", keepdims=1), const("one", 1.0)], "last")
            seq = node("Shape", [mask], "mask_shape")
            width = node("Gather", [seq, const("one_i", 1, TensorProto.INT64)], "width")
            positions = node(
                "Cast",
                [
                    node(
                        "Range",
                        [const("zero_i", 0, TensorProto.INT64), width, const("step", 1, TensorProto.INT64)],
                        "range",
                    )
                ],
                "positions",
                to=TensorProto.FLOAT,
            )
            pick = node("Cast", [node("Equal", [positions, last], "pick_b")], "pick", to=TensorProto.FLOAT)
            pick_e = node("Unsqueeze", [pick, axis_last], "pick_e")
            parts.append(
                node("ReduceSum", [node("Mul", [hidden, pick_e], "last_masked"), axis1], "lasttoken", keepdims=0)
            )
    pooled = parts[0] if len(parts) == 1 else node("Concat", parts, "concat", axis=-1)
    if pooling.normalize:
        square_sum = node("ReduceSum", [node("Mul", [pooled, pooled], "sq"), axis_last], "sq_sum", keepdims=1)
        norm = node("Max", [node("Sqrt", [square_sum], "norm_raw"), const("eps", 1e-12)], "norm")
        pooled = node("Div", [pooled, norm], "normalized")
    nodes.append(helper.make_node("Identity", [pooled], [output], name="et_pool/output"))

    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch_size", None]))
    onnx.checker.check_model(model, full_check=False)
    return model
