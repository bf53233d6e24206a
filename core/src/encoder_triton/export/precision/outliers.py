"""Outlier channels of int8 activations, computed apart in fp32 (an LLM.int8()-style decomposition).

Dynamic int8 quantises a MatMul's input with one range per tensor. In BERT-like encoders a few
tokens ([CLS], [SEP], punctuation: the "attention sinks") carry values 5-15x larger than any
other in a few fixed channels: on all-MiniLM-L6-v2, channel 99 of every FFN input reaches 28
while the median channel stays below 2, and one GELU output channel per layer reaches 14-25.
That one range then leaves the other 1,400 tokens a handful of int8 steps. The channels are
the same for every input, so they are found once on the calibration texts, and handled in one
of two ways depending on where they come from:

- a LayerNorm output's outlier channel that is large for every token (MiniLM's channel 99:
  mean |x| 4-17x the typical channel's; the LayerNorm's gain and bias make it so) is *scaled*:
  divided by s in the int8 input, its weight row multiplied by s (SmoothQuant on that channel
  alone; the weight rows of such channels are small, so the columns' ranges grow little);
- any other outlier channel (GELU outputs: spikes on a few tokens) is *split*: zeroed in the
  int8 input and computed exactly in a thin fp32 MatMul beside it,

    y = MatMul(x * v, W')                           int8, range set by ordinary channels
      + MatMul(Gather(x, spiking), W[spiking])      fp32, K = a few channels

with v = 0 for split channels, 1/s for scaled ones, 1 elsewhere. Where the MatMul's result only
passes a bias Add on its way into a residual `Sum`, the fp32 part joins that Sum (no extra pass
over the output); otherwise one Add joins them. Scaling the GELU outliers as well costs
fidelity, even those with a large mean |x| (MiniLM calibration min cosine 0.973 vs 0.984, and 4
nodes then kept in fp32); splitting the LayerNorm channels gains nothing over scaling them and
costs an Add over the 1536-wide FFN activation. A fused Attention's input (a LayerNorm output
too) can only be scaled, its projection being inside the op; on MiniLM that applies to the last
layer's (range 9.8 -> 5.1), and lifts short texts batched with long ones (min cosine 0.979 ->
0.980; the gate's texts 0.9916 -> 0.9921).

Example:
    >>> outlier_channels(np.array([1.0, 1.2, 0.9, 28.0, 1.1]))
    (3,)
    >>> channels_for(np.array([1.0, 1.2, 0.9, 28.0, 1.1, 20.0]), np.array([0.3, 0.3, 0.3, 4.0, 0.3, 0.2]))
    ChannelPlan(split=(5,), scaled=((3, 23.333333333333336),), range_before=28.0, range_after=1.2)
    >>> splits = split_outlier_channels(model, {node: plan})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton.runtime.tokenization import TokenBatch

#: A channel is an outlier when its calibration max |x| exceeds this multiple of the median channel's.
OUTLIER_FACTOR = 3.0
#: At most this many channels per MatMul go to fp32 (the fp32 part stays a thin MatMul).
MAX_OUTLIER_CHANNELS = 8
#: Ops whose outlier channels come from their per-channel gain and bias (the same channels large
#: for every token): those may be scaled; the outliers of other inputs (GELU outputs) are split.
_NORMALISATIONS = {
    "LayerNormalization",
    "SkipLayerNormalization",
    "EmbedLayerNormalization",
    "SimplifiedLayerNormalization",
}
#: Split only where it shrinks the int8 range at least this much (else the extra ops cost more
#: than they give back).
MIN_RANGE_GAIN = 2.0
#: ... and where only scaling is possible (a fused Attention's input), at least this much.
SCALE_ONLY_MIN_GAIN = 1.5


@dataclass(frozen=True)
class ChannelPlan:
    """What happens to one MatMul's outlier input channels."""

    split: tuple[int, ...]  # computed in fp32 beside the int8 MatMul
    scaled: tuple[tuple[int, float], ...]  # (channel, s): input / s, weight row * s
    range_before: float  # max |x| over the calibration tokens, all channels
    range_after: float  # ... over the ordinary channels

    def __bool__(self) -> bool:
        return bool(self.split or self.scaled)


@dataclass(frozen=True)
class OutlierSplit:
    """One MatMul whose outlier input channels were split off or scaled."""

    node: str  # the MatMul, quantised on its inlier channels
    plan: ChannelPlan
    fp32_nodes: tuple[str, ...]  # the thin fp32 MatMuls computing the split channels, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "split_fp32": list(self.plan.split),
            "scaled": {str(c): round(scale, 3) for c, scale in self.plan.scaled},
            "range_before": round(self.plan.range_before, 3),
            "range_after": round(self.plan.range_after, 3),
        }


def outlier_channels(
    absmax: np.ndarray,
    *,
    factor: float = OUTLIER_FACTOR,
    max_channels: int = MAX_OUTLIER_CHANNELS,
    min_gain: float = MIN_RANGE_GAIN,
) -> tuple[int, ...]:
    """Channels (largest first) whose max |x| exceeds `factor` x the median channel's, at most
    `max_channels`; none unless leaving them out shrinks the range by `min_gain`."""
    absmax = np.asarray(absmax, dtype=np.float64)
    if absmax.size < 2 or not np.all(np.isfinite(absmax)):
        return ()
    order = np.argsort(absmax)[::-1]
    bound = factor * float(np.median(absmax))
    chosen = [int(c) for c in order[:max_channels] if absmax[c] > bound]
    if not chosen or len(chosen) >= absmax.size:
        return ()
    remaining = float(absmax[order[len(chosen)]])
    if remaining > 0 and float(absmax[order[0]]) / remaining < min_gain:
        return ()
    return tuple(chosen)


def channels_for(
    absmax: np.ndarray,
    mean_abs: np.ndarray,
    *,
    factor: float = OUTLIER_FACTOR,
    scaling: bool = True,
    splitting: bool = True,
) -> ChannelPlan:
    """The outlier channels of one MatMul input (`outlier_channels` on its max |x|). With
    `scaling` (a LayerNorm output), each is scaled when its mean |x| is also `factor` x the median
    channel's (large for every token); the others are split, or without `splitting` (a fused
    Attention) left alone: then the scaled channels alone must shrink the range
    `SCALE_ONLY_MIN_GAIN` times (scaling costs one Mul, no fp32 MatMul)."""
    absmax = np.asarray(absmax, dtype=np.float64)
    mean_abs = np.asarray(mean_abs, dtype=np.float64)
    chosen = outlier_channels(absmax, factor=factor, min_gain=MIN_RANGE_GAIN if splitting else SCALE_ONLY_MIN_GAIN)
    if not chosen:
        peak = float(np.max(absmax)) if absmax.size else 0.0
        return ChannelPlan((), (), peak, peak)
    after = float(np.max(np.delete(absmax, list(chosen))))
    typical = float(np.median(mean_abs))
    scaled = tuple(
        (c, float(absmax[c] / after))
        for c in chosen
        if scaling and typical > 0 and mean_abs[c] >= factor * typical and after > 0
    )
    scaled_set = {c for c, _ in scaled}
    split = tuple(c for c in chosen if c not in scaled_set)
    if not splitting:
        left = float(np.max(absmax[[c for c in range(absmax.size) if c not in scaled_set]]))
        if not scaled or float(np.max(absmax)) < SCALE_ONLY_MIN_GAIN * left:
            return ChannelPlan((), (), float(np.max(absmax)), float(np.max(absmax)))
        # Scaled down to the channels left as they are, no further (the weight rows grow by s).
        rescaled = tuple((c, float(absmax[c] / left)) for c, _ in scaled)
        return ChannelPlan((), rescaled, float(np.max(absmax)), left)
    return ChannelPlan(split, scaled, float(np.max(absmax)), after)


def split_candidates(model: Any) -> list[tuple[str, str]]:
    """(node name, input tensor) of the MatMuls (which may be split or scaled) and fused
    Attentions (scaled only: their projection is inside) with a 2-D float weight."""
    from onnx import TensorProto

    weights = {i.name for i in model.graph.initializer if i.data_type == TensorProto.FLOAT and len(i.dims) == 2}
    return [
        (node.name, node.input[0])
        for node in model.graph.node
        if node.name
        and len(node.input) > 1
        and node.input[1] in weights
        and (
            (node.op_type == "MatMul" and node.domain in ("", "ai.onnx"))
            or (node.op_type == "Attention" and node.domain == "com.microsoft")
        )
    ]


def activation_stats(
    model: Any, tensors: Sequence[str], calibration: TokenBatch, rows_per_run: int = 8
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-channel (max |x|, mean |x|) of `tensors` over the calibration texts' real tokens
    (padding left out), run in small sub-batches (the FFN activations of 64 long texts would
    not fit at once)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for name in tensors:
        if name not in known:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    peaks: dict[str, np.ndarray] = {}
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    order = np.argsort(calibration.lengths)
    for start in range(0, len(order), rows_per_run):
        arrays = calibration.take(order[start : start + rows_per_run]).arrays()
        real = arrays["attention_mask"].astype(bool)
        outputs = session.run(list(tensors), {name: arrays[name] for name in inputs})
        for name, value in zip(tensors, outputs, strict=True):
            tokens = value[real] if value.shape[: real.ndim] == real.shape else value.reshape(-1, value.shape[-1])
            magnitude = np.abs(tokens).astype(np.float64)
            peak, total = np.max(magnitude, axis=0), np.sum(magnitude, axis=0)
            peaks[name] = peak if name not in peaks else np.maximum(peaks[name], peak)
            sums[name] = total if name not in sums else sums[name] + total
            counts[name] = counts.get(name, 0) + len(magnitude)
    return {name: (peaks[name], sums[name] / max(counts[name], 1)) for name in peaks}


def split_outlier_channels(model: Any, plans: Mapping[str, ChannelPlan]) -> dict[str, tuple[str, ...]]:
    """Rewrite `model` in place: each MatMul named in `plans` gets its scaled channels divided
    by s in its input and its weight rows multiplied by s, and its split channels computed
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
    for node in list(model.graph.node):
        plan = plans.get(node.name)
        if not plan:
            continue
        x, weight_name = original[node.name]
        weight = numpy_helper.to_array(graph.weights[weight_name])
        gelu = _gelu_source(graph, x) if plan.split else None
        factors = np.ones(weight.shape[0], dtype=weight.dtype)
        if gelu is None:
            factors[list(plan.split)] = 0
        scaled_weight = weight.copy()
        for channel, scale in plan.scaled:
            factors[channel] = 1.0 / scale
            scaled_weight[channel] *= scale
        base = f"{node.name}/outliers"
        if plan.scaled or (plan.split and gelu is None):
            node.input[0] = graph.before(node, "Mul", [x, graph.constant(f"{base}/factors", factors)], f"{base}/Mul")
        if plan.scaled:  # a weight of its own (the original may be shared)
            node.input[1] = graph.constant(f"{base}/weight", scaled_weight)
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


def plan_outlier_splits(model: Any, calibration: TokenBatch) -> dict[str, ChannelPlan]:
    """node -> what to do with its outlier channels, for every MatMul that has some."""
    candidates = split_candidates(model)
    stats = activation_stats(model, sorted({tensor for _, tensor in candidates}), calibration)
    producers = {output: node.op_type for node in model.graph.node for output in node.output[:1]}
    kinds = {node.name: node.op_type for node in model.graph.node}
    plans = {
        node: channels_for(
            *stats[tensor], scaling=producers.get(tensor) in _NORMALISATIONS, splitting=kinds[node] == "MatMul"
        )
        for node, tensor in candidates
    }
    return {node: plan for node, plan in plans.items() if plan}


def split_model(src: Path, dst: Path, calibration: TokenBatch) -> list[OutlierSplit]:
    """Measure `src`'s MatMul inputs on the calibration texts, split or scale their outlier
    channels, save to `dst`."""
    import onnx

    model = onnx.load(str(src))
    plans = plan_outlier_splits(model, calibration)
    fp32 = split_outlier_channels(model, plans)
    external = src.with_name(src.name + ".data").exists()
    onnx.save(model, str(dst), save_as_external_data=external, location=dst.name + ".data" if external else None)
    return [OutlierSplit(node, plan, fp32_nodes=fp32.get(node, ())) for node, plan in plans.items()]
