"""Outlier channels before int8, rewritten in the fp32 graph: balanced, or split off to fp32.

channel_plan.py decides, per MatMul, which input channels are *balanced* (SmoothQuant: the input
divided by f per channel, the weight's rows multiplied by it) and which are *split* (computed
exactly in a thin fp32 MatMul beside the int8 one). This module rewrites the graph accordingly,
leaving its fp32 result unchanged:

    y = MatMul(x * v, W')                           int8, range set by ordinary channels
      + MatMul(Gather(x, spiking), W[spiking])      fp32, K = a few channels

with v = 0 for split channels, 1/f for balanced ones, and W' = diag(f) W. The MatMuls reading one
tensor with one factor vector (Q, K, V) share one Mul. Where the split input is a GELU of an
up-projection, the channels are zeroed at their source (the up weight's columns and the GELU
bias: GELU(0) = 0) and recomputed thin, so the int8 input needs no Mul at all; where the
MatMul's result only passes a bias Add on its way into a residual `Sum`, the fp32 part joins
that Sum (no extra pass over the output); otherwise one Add joins them. A fused Attention's
input can only be balanced (its projection is inside the op).

Example:
    >>> plans = plan_model(model, calibration)  # doctest: +SKIP
    >>> fp32_nodes = split_outlier_channels(model, plans)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton.export.precision.channel_plan import DEFAULT_ALPHA, ChannelPlan, Progress, plan_model
from encoder_triton.runtime.tokenization import TokenBatch


@dataclass(frozen=True)
class OutlierSplit:
    """One MatMul whose input channels were balanced or split off."""

    node: str  # the MatMul, quantised on what its plan leaves
    plan: ChannelPlan
    fp32_nodes: tuple[str, ...]  # the thin fp32 MatMuls computing the split channels, if any

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, **self.plan.to_dict()}


def split_outlier_channels(model: Any, plans: Mapping[str, ChannelPlan]) -> dict[str, tuple[str, ...]]:
    """Rewrite `model` in place: each MatMul named in `plans` gets its input divided by its
    balancing factors and its weight rows multiplied by them, and its split channels computed
    apart in fp32 (see the module docstring). Returns each node's fp32 MatMuls, which the
    quantiser must leave alone."""
    from onnx import numpy_helper

    graph = _Graph(model)
    original = {
        node.name: (node.input[0], node.input[1])
        for node in model.graph.node
        if node.op_type in ("MatMul", "Attention") and len(node.input) > 1
    }
    fp32: dict[str, tuple[str, ...]] = {}
    shared: dict[tuple[str, bytes], str] = {}  # (input, factors) -> the Mul's output
    for node in list(model.graph.node):
        plan = plans.get(node.name)
        if not plan:
            continue
        x, weight_name = original[node.name]
        weight = numpy_helper.to_array(graph.weights[weight_name])
        gelu = _gelu_source(graph, x) if plan.split else None
        factors = np.ones(weight.shape[0], dtype=weight.dtype)
        scaled_weight = weight
        if plan.factors:
            balance = np.asarray(plan.factors, dtype=weight.dtype)
            factors = (1.0 / balance).astype(weight.dtype)
            scaled_weight = weight * balance[:, None]
        if gelu is None:
            factors[list(plan.split)] = 0
        base = f"{node.name}/outliers"
        if plan.factors or (plan.split and gelu is None):
            key = (x, factors.tobytes())
            if key not in shared:
                constant = graph.constant(f"{base}/factors", factors)
                shared[key] = graph.before(node, "Mul", [x, constant], f"{base}/Mul")
            node.input[0] = shared[key]
        if plan.factors:  # a weight of its own (the original may be shared)
            node.input[1] = graph.constant(f"{base}/weight", scaled_weight.astype(weight.dtype))
        if not plan.split:
            continue
        split_weight = graph.constant(f"{base}/split_weight", np.ascontiguousarray(weight[list(plan.split)]))
        if gelu is None:
            index = graph.constant(f"{base}/index", np.array(plan.split, dtype=np.int64))
            inputs = graph.before(node, "Gather", [x, index], f"{base}/Gather", axis=-1)
            names: tuple[str, ...] = (f"{base}/MatMul",)
        else:  # zero the channels at their source (GELU(0) = 0) and recompute them thin
            inputs = _recompute_gelu_channels(graph, node, gelu, plan.split, original, base)
            names = (f"{base}/up_MatMul", f"{base}/MatMul")
        y_split = graph.before(node, "MatMul", [inputs, split_weight], names[-1])
        fp32[node.name] = names
        residual = _residual_sum_after(node.output[0], graph)
        if residual is not None:
            residual.input.append(y_split)  # Sum takes any number of inputs
        else:
            y = node.output[0]
            node.output[0] = f"{base}/int8_y"
            graph.after(node, "Add", [node.output[0], y_split], f"{base}/Add", output=y)
    graph.commit()
    return fp32


#: Activations that map 0 to 0, with their optional bias as input 1.
_GELUS = {"BiasGelu", "FastGelu", "Gelu"}


def _gelu_source(graph: _Graph, x: str) -> tuple[Any, Any] | None:
    """(up MatMul, GELU) when `x` is GELU(MatMul(., W) [+ constant bias]), each output used once:
    then x's channels can be zeroed at the source by zeroing W's columns (and the bias)."""
    gelu = graph.producer.get(x)
    if gelu is None or gelu.op_type not in _GELUS or len(graph.consumers.get(x, [])) != 1:
        return None
    if len(gelu.input) > 1 and gelu.input[1] and gelu.input[1] not in graph.weights:
        return None
    up = graph.producer.get(gelu.input[0])
    if up is None or up.op_type != "MatMul" or up.input[1] not in graph.weights:
        return None
    if len(graph.consumers.get(gelu.input[0], [])) != 1:
        return None
    return up, gelu


def _recompute_gelu_channels(
    graph: _Graph,
    node: Any,
    source: tuple[Any, Any],
    channels: tuple[int, ...],
    original: Mapping[str, tuple[str, str]],
    base: str,
) -> str:
    """Zero `channels` of the up MatMul's weight and the GELU's bias (so the int8 path sees 0
    there) and compute them thin in fp32 from the up MatMul's unscaled input; returns their name."""
    from onnx import helper, numpy_helper

    up, gelu = source
    index = list(channels)
    up_x, up_weight_name = original.get(up.name, (up.input[0], up.input[1]))
    up_weight = numpy_helper.to_array(graph.weights[up_weight_name])
    current = numpy_helper.to_array(graph.weights[up.input[1]]).copy()  # scaled rows, if any
    current[:, index] = 0
    up.input[1] = graph.constant(f"{base}/up_weight", current)
    thin_up = graph.constant(f"{base}/up_split_weight", np.ascontiguousarray(up_weight[:, index]))
    pre = graph.before(node, "MatMul", [up_x, thin_up], f"{base}/up_MatMul")
    gelu_inputs = [pre]
    if len(gelu.input) > 1 and gelu.input[1]:
        bias = numpy_helper.to_array(graph.weights[gelu.input[1]])
        gelu_inputs.append(graph.constant(f"{base}/up_split_bias", np.ascontiguousarray(bias[index])))
        zeroed = bias.copy()
        zeroed[index] = 0
        gelu.input[1] = graph.constant(f"{base}/up_bias", zeroed)
    attributes = {a.name: helper.get_attribute_value(a) for a in gelu.attribute}
    return graph.before(node, gelu.op_type, gelu_inputs, f"{base}/{gelu.op_type}", domain=gelu.domain, **attributes)


class _Graph:
    """Edits to a ModelProto's graph: new constants, and nodes placed before or after others."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.weights = {i.name: i for i in model.graph.initializer}
        self.consumers: dict[str, list[Any]] = {}
        for node in model.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.producer = {output: node for node in model.graph.node for output in node.output}
        self.outputs = {o.name for o in model.graph.output}
        self._before: dict[int, list[Any]] = {}
        self._after: dict[int, list[Any]] = {}

    def constant(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        tensor = numpy_helper.from_array(value, name)
        self.model.graph.initializer.append(tensor)
        self.weights[name] = tensor
        return name

    def before(self, anchor: Any, op: str, inputs: list[str], name: str, **attributes: Any) -> str:
        return self._add(self._before, anchor, op, inputs, name, **attributes)

    def after(self, anchor: Any, op: str, inputs: list[str], name: str, **attributes: Any) -> str:
        return self._add(self._after, anchor, op, inputs, name, **attributes)

    def _add(
        self, where: dict[int, list[Any]], anchor: Any, op: str, inputs: list[str], name: str, **attributes: Any
    ) -> str:
        from onnx import helper

        output = attributes.pop("output", None) or f"{name}_output_0"
        domain = attributes.pop("domain", "") or ""
        where.setdefault(id(anchor), []).append(
            helper.make_node(op, inputs, [output], name=name, domain=domain or None, **attributes)
        )
        return output

    def commit(self) -> None:
        """Place the new nodes and drop the weights nothing uses any more (replaced by copies)."""
        nodes = list(self.model.graph.node)
        del self.model.graph.node[:]
        for node in nodes:
            self.model.graph.node.extend(self._before.get(id(node), []))
            self.model.graph.node.append(node)
            self.model.graph.node.extend(self._after.get(id(node), []))
        used = {name for node in self.model.graph.node for name in node.input}
        for initializer in [i for i in self.model.graph.initializer if i.name not in used]:
            self.model.graph.initializer.remove(initializer)


def _residual_sum_after(output: str, graph: _Graph) -> Any | None:
    """The residual `Sum` that `output` reaches directly or through one bias Add (a constant
    operand), each step its only consumer; None otherwise."""
    current = output
    for _ in range(2):
        users = graph.consumers.get(current, [])
        if len(users) != 1 or current in graph.outputs:
            return None
        user = users[0]
        if user.op_type == "Sum":
            return user
        if user.op_type != "Add" or not any(name in graph.weights for name in user.input):
            return None
        current = user.output[0]
    return None


def split_model(
    src: Path,
    dst: Path,
    calibration: TokenBatch,
    *,
    alpha: float = DEFAULT_ALPHA,
    progress: Progress | None = None,
) -> tuple[list[OutlierSplit], dict[str, ChannelPlan]]:
    """Measure `src`'s MatMul inputs on the calibration texts, balance and split their channels,
    save to `dst`. Returns what was rewritten, and every candidate's plan (empty ones too)."""
    import onnx

    model = onnx.load(str(src))
    plans = plan_model(model, calibration, alpha=alpha, progress=progress)
    # A head's MatMuls (once per text) stay fp32 whole (int8.py): nothing to rewrite there.
    applied = {node: plan for node, plan in plans.items() if plan and plan.per_token}
    fp32 = split_outlier_channels(model, applied)
    external = src.with_name(src.name + ".data").exists()
    onnx.save(model, str(dst), save_as_external_data=external, location=dst.name + ".data" if external else None)
    return [OutlierSplit(node, plan, fp32_nodes=fp32.get(node, ())) for node, plan in applied.items()], plans
