"""What int8 does to each MatMul's input channels, planned from calibration statistics.

Dynamic int8 quantises a MatMul's input with one range per tensor (ONNX Runtime's integer
kernels take one scale for A). Transformer encoders put a few channels far outside that range,
in two ways that need two cures:

- **Normalisation outputs** (LayerNorm, and anything else that is not an activation function:
  the attention context feeding the output projection) carry *persistent* outlier channels,
  set by the LayerNorm's gain: all-mpnet-base-v2's channels 555, 568 and 461 reach 40-65 on
  every text where the median channel stays near 1.4 (all-MiniLM-L6-v2: channel 99, 28).
  These are *balanced* (SmoothQuant, Xiao et al. 2023): every input channel j is divided by
  f_j = max|x_j|^alpha / max|W_j|^(1-alpha) and weight row j multiplied by it, which moves
  part of the activation's range into the per-channel weights, where int8 has room. One
  factor vector per input tensor (the Q, K and V projections share theirs, and one Mul).
- **Activation-function outputs** (GELU: the FFN's down-projection input) carry *spikes*: a
  few channels reach 50-100 on a few tokens (MPNet layers 6-10) where the median token stays
  below 1. Balancing cannot fix a token-local spike without wrecking the weight row, so those
  channels (at most `MAX_OUTLIER_CHANNELS` above `OUTLIER_FACTOR` x the median channel) are
  *split*: computed exactly in a thin fp32 MatMul beside the int8 one (LLM.int8(), Dettmers et
  al. 2022). See outliers.py for the rewrite.

Measured on MPNet (min / mean cosine to fp32 over 200 held-out news sentences, every node
int8): per-channel dynamic alone 0.816 / 0.886; balancing everything (alpha 0.75) 0.876 /
0.954; the FFN down-projections alone in fp32 0.981 / 0.991; balancing + splitting 0.994 /
0.997. alpha 0.5 measures 0.992 / 0.997 on MPNet and the same as 0.75 on MiniLM.

Example:
    >>> outlier_channels(np.array([1.0, 1.2, 0.9, 28.0, 1.1]))
    (3,)
    >>> plan = plan_channels(np.array([1.0, 4.0]), np.array([1.0, 1.0]), activation_fed=False, alpha=0.5)
    >>> plan.factors, plan.range_after
    ((1.0, 2.0), 2.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from encoder_triton.runtime.tokenization import TokenBatch

#: A channel is a spike outlier when its calibration max |x| exceeds this multiple of the median channel's.
OUTLIER_FACTOR = 3.0
#: At most this many channels per MatMul go to fp32 (the fp32 part stays a thin MatMul).
MAX_OUTLIER_CHANNELS = 8
#: Split only where it shrinks the int8 range at least this much (else the extra ops cost more
#: than they give back).
MIN_RANGE_GAIN = 2.0
#: SmoothQuant's migration strength: 0 leaves activations alone, 1 moves all of their range
#: into the weights. 0.75 measured best on MPNet and equal to 0.5 on MiniLM (module docstring).
DEFAULT_ALPHA = 0.75
#: Balancing factors stay within these bounds (a dead channel must not blow a weight row up).
_FACTOR_BOUNDS = (1e-3, 1e3)
#: Producers whose outputs spike on a few tokens (activation functions): split, never balanced.
ACTIVATIONS = {"BiasGelu", "FastGelu", "Gelu", "QuickGelu", "Relu", "Erf", "Tanh", "Sigmoid"}


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel statistics of one tensor over the calibration texts' real tokens."""

    absmax: np.ndarray
    mean_abs: np.ndarray
    mean_square: np.ndarray
    #: False for a tensor with one row per text (after pooling: a classifier head's input).
    per_token: bool = True


@dataclass(frozen=True)
class ChannelPlan:
    """What happens to one MatMul's input channels before int8."""

    split: tuple[int, ...]  # computed in fp32 beside the int8 MatMul
    #: Per input channel f_j (x_j / f_j into int8, weight row j * f_j); () leaves them alone.
    factors: tuple[float, ...]
    range_before: float  # max |x| over the calibration tokens, all channels
    range_after: float  # ... of what the int8 MatMul sees
    #: Expected int8 rounding noise over the signal, after the plan: (range / 255) / rms.
    noise_to_signal: float = 0.0
    #: False where the MatMul runs once per text (a head after pooling), not once per token.
    per_token: bool = True

    def __bool__(self) -> bool:
        return bool(self.split or self.factors)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "split_fp32": list(self.split),
            "range_before": round(self.range_before, 3),
            "range_after": round(self.range_after, 3),
        }
        if self.factors:
            out["balanced"] = {"channels": len(self.factors), "max_factor": round(max(self.factors), 3)}
        return out


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


def balancing_factors(absmax: np.ndarray, weight_absmax: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's per-channel factors: max|x_j|^alpha / max|W_j|^(1 - alpha), bounded."""
    x = np.maximum(np.asarray(absmax, dtype=np.float64), 1e-5)
    w = np.maximum(np.asarray(weight_absmax, dtype=np.float64), 1e-5)
    return np.clip(x**alpha / w ** (1.0 - alpha), *_FACTOR_BOUNDS)


def plan_channels(
    absmax: np.ndarray,
    weight_absmax: np.ndarray,
    *,
    activation_fed: bool,
    alpha: float = DEFAULT_ALPHA,
    splitting: bool = True,
    mean_square: np.ndarray | None = None,
) -> ChannelPlan:
    """The plan for one MatMul input: split spikes (`activation_fed`), else balance every channel.

    `weight_absmax` is max |W_j| per input channel over every weight reading this input;
    `splitting` is False where the projection sits inside a fused op (Attention): then an
    activation-fed input is left alone. `mean_square` (per channel) feeds the noise estimate.
    """
    absmax = np.asarray(absmax, dtype=np.float64)
    peak = float(np.max(absmax)) if absmax.size else 0.0
    square = np.asarray(mean_square, dtype=np.float64) if mean_square is not None else absmax**2
    if activation_fed:
        chosen = outlier_channels(absmax) if splitting else ()
        rest = np.ones(absmax.size, dtype=bool)
        rest[list(chosen)] = False
        after = float(np.max(absmax[rest])) if rest.any() else 0.0
        return ChannelPlan(chosen, (), peak, after, _noise(after, float(np.mean(square[rest])) if rest.any() else 0.0))
    if alpha <= 0:
        return ChannelPlan((), (), peak, peak, _noise(peak, float(np.mean(square))))
    factors = balancing_factors(absmax, weight_absmax, alpha)
    after = float(np.max(absmax / factors))
    return ChannelPlan(
        (), tuple(float(f) for f in factors), peak, after, _noise(after, float(np.mean(square / factors**2)))
    )


def _noise(int8_range: float, mean_square: float) -> float:
    """Uniform rounding noise of an 8-bit grid over `int8_range`, relative to the signal's rms."""
    rms = float(np.sqrt(max(mean_square, 0.0)))
    return (int8_range / 255.0) / np.sqrt(12.0) / rms if rms > 0 else 0.0


def matmul_inputs(model: Any) -> list[tuple[str, str, str]]:
    """(node name, input tensor, weight name) of the MatMuls and fused Attentions with a 2-D
    float weight: the nodes int8 quantises and whose inputs may be split or balanced."""
    from onnx import TensorProto

    weights = {i.name for i in model.graph.initializer if i.data_type == TensorProto.FLOAT and len(i.dims) == 2}
    return [
        (node.name, node.input[0], node.input[1])
        for node in model.graph.node
        if node.name
        and len(node.input) > 1
        and node.input[1] in weights
        and (
            (node.op_type == "MatMul" and node.domain in ("", "ai.onnx"))
            or (node.op_type == "Attention" and node.domain == "com.microsoft")
        )
    ]


Progress = Callable[[int, int], None]


def activation_stats(
    model: Any,
    tensors: Sequence[str],
    calibration: TokenBatch,
    rows_per_run: int = 8,
    progress: Progress | None = None,
) -> dict[str, ChannelStats]:
    """Per-channel statistics of `tensors` over the calibration texts' real tokens (padding left
    out), run in small sub-batches (the FFN activations of 64 long texts would not fit at once).
    `progress(done, total)` is told after each sub-batch."""
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
    per_token: dict[str, bool] = {}
    sums: dict[str, np.ndarray] = {}
    squares: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    order = np.argsort(calibration.lengths)
    starts = range(0, len(order), rows_per_run)
    for done, start in enumerate(starts, 1):
        arrays = calibration.take(order[start : start + rows_per_run]).arrays()
        real = arrays["attention_mask"].astype(bool)
        outputs = session.run(list(tensors), {name: arrays[name] for name in inputs})
        for name, value in zip(tensors, outputs, strict=True):
            per_token[name] = value.shape[: real.ndim] == real.shape
            tokens = value[real] if per_token[name] else value.reshape(-1, value.shape[-1])
            magnitude = np.abs(tokens)  # float32 until the sums: the FFN activations are large
            peak = np.max(magnitude, axis=0).astype(np.float64)
            peaks[name] = peak if name not in peaks else np.maximum(peaks[name], peak)
            sums[name] = np.sum(magnitude, axis=0, dtype=np.float64) + sums.get(name, 0.0)
            squares[name] = np.sum(np.square(magnitude), axis=0, dtype=np.float64) + squares.get(name, 0.0)
            counts[name] = counts.get(name, 0) + len(magnitude)
        if progress is not None:
            progress(done, len(starts))
    return {
        name: ChannelStats(
            peaks[name], sums[name] / max(counts[name], 1), squares[name] / max(counts[name], 1), per_token[name]
        )
        for name in peaks
    }


def plan_model(
    model: Any,
    calibration: TokenBatch,
    *,
    alpha: float = DEFAULT_ALPHA,
    progress: Progress | None = None,
) -> dict[str, ChannelPlan]:
    """node -> its plan, for every quantisable MatMul / Attention (empty plans included: their
    noise estimate ranks them for the fp32 fallback)."""
    from onnx import numpy_helper

    candidates = matmul_inputs(model)
    stats = activation_stats(model, sorted({tensor for _, tensor, _ in candidates}), calibration, progress=progress)
    weights = {i.name: i for i in model.graph.initializer}
    producers = {output: node.op_type for node in model.graph.node for output in node.output[:1]}
    kinds = {node.name: node.op_type for node in model.graph.node}
    # One balancing vector per input tensor: every weight reading it is scaled by the same rows.
    row_absmax: dict[str, np.ndarray] = {}
    for _, tensor, weight in candidates:
        rows = np.max(np.abs(numpy_helper.to_array(weights[weight])), axis=1)
        row_absmax[tensor] = rows if tensor not in row_absmax else np.maximum(row_absmax[tensor], rows)
    return {
        node: replace(
            plan_channels(
                stats[tensor].absmax,
                row_absmax[tensor],
                activation_fed=producers.get(tensor) in ACTIVATIONS,
                alpha=alpha,
                splitting=kinds[node] == "MatMul",
                mean_square=stats[tensor].mean_square,
            ),
            per_token=stats[tensor].per_token,
        )
        for node, tensor, _ in candidates
    }
