"""INT8 for CPU: dynamic per-channel quantisation, outlier channels apart, sensitive nodes by measurement.

Measured on all-MiniLM-L6-v2 (fused graph; cosine to sentence-transformers; the gate's 24
reference texts / 200 held-out Lee-corpus sentences / the 64 calibration texts, batched as the
encoder step batches them):

    per-tensor dynamic, every node               min 0.922 / 0.918            mean 0.954 / 0.957
    per-channel dynamic, every node              min 0.981 / 0.983 / 0.950    mean 0.991 / 0.992
    weights only (per-channel), fp32 activations min 0.999 / 0.999            mean 0.9995
    static QDQ, MinMax / Entropy / Percentile    min 0.87 / 0.87 / 0.56       mean 0.93 / 0.93 / 0.79
    SmoothQuant-style rescaling (alpha 0.5)      min 0.964 / 0.973            mean 0.984
    per-channel, 7 of 25 nodes in fp32 (before)  min 0.9946 / 0.9935 / 0.9895 mean 0.9969 / 0.9967
    outliers: every one split to fp32, all int8  min 0.9934 / 0.9953 / 0.9844 mean 0.9970 / 0.9969
    outliers: every one scaled, all int8         min 0.9890 / 0.9942 / 0.9798 mean 0.9960 / 0.9963
    outliers: scaled if large for every token    min - / - / 0.9728           mean - / - / 0.9962
      (GELU ones too): the search then keeps 4 nodes in fp32
    LayerNorm outliers scaled, GELU outliers     min 0.9916 / 0.9949 / 0.9860 mean 0.9968 / 0.9968
      split, all 25 nodes int8
    default: the same, and the last Attention's  min 0.9921 / 0.9949 / 0.9878 mean 0.9970 / 0.9970
      input channels scaled

(The outlier rows' held-out sentences are a pick of our own, on which the 7-node default
measures 0.9940. Eight very short texts, "ok", "a", "Hello world"..., batched with 96 sentences:
min cosine 0.9809 with the 7-node default, 0.9618 with every node int8, 0.9799 by default now.)

Weights quantise well; the error comes from quantising *activations* per tensor, where a few
channels carry outliers on a few tokens ([CLS], [SEP]: the LayerNorm outputs' channel 99
reaches 28 where the median channel stays below 2; one GELU output channel per layer reaches
14-25). Static calibration fixes one range for every input and does worse; rescaling every
channel moves the error into the per-channel weights. Very short texts suffer most ("ok"
batched with longer texts: cosine 0.950 with every node int8).

The default first takes the outlier channels out of the int8 ranges (outliers.py: found on the
calibration texts; a LayerNorm output's channels are scaled into range, the GELU spikes computed
apart in a thin fp32 MatMul), which on MiniLM is enough for every node to stay int8. Per-token
activation scales would be the other cure, but ONNX Runtime's integer MatMuls take one scale
for A (DynamicQuantizeMatMul, MatMulIntegerToFloat), and building them from elementwise ops
costs more than an fp32 MatMul; MatMulNBits with 8-bit weights and int8 compute (block-wise A
scales) runs at 1.1-1.3x an fp32 MatMul here against 3.3x for DynamicQuantizeMatMul.

Where that is not enough, the nodes whose activations still hurt most stay in fp32, chosen by
measurement on calibration texts the gate never sees:

1. quantise everything; if the calibration texts already meet the target, stop;
2. otherwise quantise each candidate node *alone* and record its per-text error (on MiniLM the
   errors roughly add up across nodes; for the worst text they add up to 3/4 of the total);
3. order the nodes greedily by how much each cuts the predicted violation (worst text against
   the min bound, mean against the mean bound), keep the predicted number in fp32, measure,
   and add one more node at a time until the calibration texts meet the target.

Target: the gate's min cosine as is, and its mean with headroom (default half the allowed
error: 0.995 for the int8 gate of 0.98 / 0.99). Without the outlier step MiniLM kept 7 of 25
nodes in fp32 (5 FFN MatMuls, 2 attention blocks) after about 27 quantise-and-measure trials,
and ran at 1.2-1.5x fp32; with it, one trial and nothing in fp32: 2.1-2.2x fp32 at 128 tokens
and 2.3-3.0x at 32 (batch 1 / 8 / 32, precision benchmark on 2 shared cores, ONNX Runtime 1.32;
part of that is the CPU graph's plain LayerNorms, see optimize.py). `search=False`
(`--no-int8-search`) quantises every node whatever the calibration texts say;
`outlier_split=False` (`--no-int8-outliers`) skips the outlier step. Static QDQ calibration
(`mode="static"`) runs the search on MinMax ranges from the calibration texts, for providers
that want QDQ graphs (no outlier step).

Speed, measured per op (ORT profiling, batch 8 x 128 tokens, 2 threads): with every node int8,
the integer MatMuls take 39%, QAttention 38% (two thirds of it the fp32 softmax core), BiasGelu
13%, LayerNorm and residual sums 7%. Tried and dropped: DynamicQuantizeMatMul for Q, K, V plus
fp32 MultiHeadAttention instead of QAttention (12.3 vs 11.1 ms), FastGelu for BiasGelu (0.49
vs 0.52 ms per call), Gemm with C instead of MatMul + Add for a split's join (0.30 vs 0.36 ms).

Example:
    >>> result = quantize_int8(Path("opt.onnx"), Path("int8.onnx"), calibration=batch,
    ...                        gate=Thresholds(min_cosine=0.98, mean_cosine=0.99))  # doctest: +SKIP
    >>> [n.name for n in result.kept_fp32]  # doctest: +SKIP
    ['/encoder/layer.0/output/dense/MatMul', ...]
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton.export.fidelity import Thresholds, cosine_rows
from encoder_triton.export.precision.outliers import OutlierSplit, split_model
from encoder_triton.runtime.tokenization import TokenBatch

#: Ops the dynamic quantiser turns into integer kernels (MatMulInteger, QAttention, ...).
DYNAMIC_OPS = ("MatMul", "Attention", "EmbedLayerNormalization", "Gather")
#: QDQ static quantisation: MatMuls only (ONNX Runtime has no QDQ kernel for fused Attention).
STATIC_OPS = ("MatMul",)
#: Position of the weight each op type quantises (a node without a float initializer there is
#: not a candidate: e.g. attention's activation x activation MatMuls).
_WEIGHT_INPUT = {"MatMul": 1, "Attention": 1, "EmbedLayerNormalization": 2, "Gather": 0}


@dataclass(frozen=True)
class Int8Options:
    mode: str = "dynamic"  # or "static" (QDQ, MinMax-calibrated)
    per_channel: bool = True
    #: Fraction of the gate's allowed mean error the calibration texts may use (0.5: half).
    headroom: float = 0.5
    #: False: quantise every candidate (fastest) and leave the verdict to the gate alone.
    search: bool = True
    #: Dynamic mode: compute the outlier input channels of MatMuls in fp32 beside the int8 part
    #: (outliers.py), which lets every node stay int8 on MiniLM.
    outlier_split: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("dynamic", "static"):
            raise ValueError(f"int8 calibration must be 'dynamic' or 'static', got {self.mode!r}")
        if not 0 < self.headroom <= 1:
            raise ValueError(f"headroom must lie in (0, 1], got {self.headroom}")


@dataclass(frozen=True)
class Agreement:
    """Agreement of a candidate with the fp32 graph over the calibration texts."""

    min_cosine: float
    mean_cosine: float

    @classmethod
    def of(cls, per_text_error: np.ndarray) -> Agreement:
        worst = float(np.max(per_text_error)) if len(per_text_error) else 0.0
        return cls(1.0 - worst, 1.0 - float(np.mean(per_text_error)) if len(per_text_error) else 1.0)

    def meets(self, target: Agreement) -> bool:
        return self.min_cosine >= target.min_cosine and self.mean_cosine >= target.mean_cosine

    def to_dict(self) -> dict[str, float]:
        return {"min_cosine": round(self.min_cosine, 6), "mean_cosine": round(self.mean_cosine, 6)}


def target_for(gate: Thresholds, headroom: float) -> Agreement:
    """The calibration target: the gate's mean bound with only `headroom` of its error allowed,
    and its min bound as is (the worst text is an extreme, batch-dependent statistic: asking
    it for headroom too keeps twice as many nodes in fp32 on MiniLM for no gain in the mean)."""
    min_bound = gate.min_cosine if gate.min_cosine is not None else 0.98
    mean_bound = gate.mean_cosine if gate.mean_cosine is not None else min_bound
    return Agreement(min_bound, 1.0 - headroom * (1.0 - mean_bound))


@dataclass(frozen=True)
class SearchResult:
    excluded: tuple[str, ...]
    all_int8: Agreement
    final: Agreement
    alone: dict[str, Agreement]
    trials: int


def choose_fp32_nodes(
    candidates: Sequence[str],
    measure: Callable[[tuple[str, ...]], np.ndarray],
    measure_alone: Callable[[str], np.ndarray],
    target: Agreement,
) -> SearchResult:
    """The fewest, most harmful nodes to keep in fp32 so that the rest meets `target`.

    `measure(excluded)` quantises every candidate but `excluded`; `measure_alone(node)` only
    `node`; both return the per-text error (1 - cosine to fp32). Pure search logic, tested
    without a model.

    Errors add up roughly per text, so each node's single-node errors, scaled per text to sum
    to the all-int8 error, predict what keeping a set in fp32 buys. Nodes are ordered greedily
    by how much they cut the worse of the two violations (worst text vs. its bound, mean vs.
    its bound); the predicted count is measured, then one more node at a time until it holds.
    """
    trials = 1
    everything = measure(())
    overall = Agreement.of(everything)
    if overall.meets(target) or not candidates:
        return SearchResult((), overall, overall, {}, trials)
    single = {node: np.maximum(measure_alone(node), 0.0) for node in candidates}
    trials += len(single)
    total = np.sum(list(single.values()), axis=0)
    scale = np.divide(everything, total, out=np.ones_like(everything), where=total > 0)
    share = {node: errors * scale for node, errors in single.items()}
    min_budget = max(1.0 - target.min_cosine, 1e-9)
    mean_budget = max(1.0 - target.mean_cosine, 1e-9)

    def violation(errors: np.ndarray) -> float:
        return max(float(np.max(errors)) / min_budget, float(np.mean(errors)) / mean_budget)

    order: list[str] = []
    predicted = everything.copy()
    count = 0
    remaining = list(candidates)
    while remaining:
        best = min(remaining, key=lambda n: violation(predicted - share[n]))
        remaining.remove(best)
        order.append(best)
        predicted = predicted - share[best]
        if not count and violation(predicted) <= 1.0:
            count = len(order)
    count = count or len(order)
    while True:
        excluded = tuple(order[:count])
        result = Agreement.of(measure(excluded))
        trials += 1
        if result.meets(target) or count == len(order):
            alone = {node: Agreement.of(errors) for node, errors in single.items()}
            return SearchResult(excluded, overall, result, alone, trials)
        count += 1


@dataclass(frozen=True)
class KeptNode:
    """A node left in fp32 and what quantising it alone did to the calibration texts."""

    name: str
    op_type: str
    alone_min_cosine: float
    alone_mean_cosine: float


@dataclass(frozen=True)
class Int8Result:
    path: Path
    mode: str
    per_channel: bool
    calibration_texts: int
    target: Agreement
    all_int8: Agreement
    final: Agreement
    quantized_nodes: int
    kept_fp32: tuple[KeptNode, ...] = ()
    trials: int = 0
    search: bool = True
    outlier_splits: tuple[OutlierSplit, ...] = ()
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "per_channel": self.per_channel,
            "calibration_texts": self.calibration_texts,
            "target_on_calibration": self.target.to_dict(),
            "all_int8_on_calibration": self.all_int8.to_dict(),
            "final_on_calibration": self.final.to_dict(),
            "quantized_nodes": self.quantized_nodes,
            "kept_fp32": [
                {
                    "node": k.name,
                    "op_type": k.op_type,
                    "alone_min_cosine": round(k.alone_min_cosine, 6),
                    "alone_mean_cosine": round(k.alone_mean_cosine, 6),
                }
                for k in self.kept_fp32
            ],
            "search_trials": self.trials,
            "search": self.search,
            "outlier_channels": [split.to_dict() for split in self.outlier_splits],
        }


def quantization_candidates(model: Any, op_types: Sequence[str]) -> list[tuple[str, str]]:
    """(name, op_type) of the nodes whose float weights the quantiser would turn to int8."""
    from onnx import TensorProto

    floats = {i.name for i in model.graph.initializer if i.data_type == TensorProto.FLOAT}
    found = []
    for node in model.graph.node:
        index = _WEIGHT_INPUT.get(node.op_type)
        if node.op_type in op_types and index is not None and len(node.input) > index:
            if node.input[index] in floats and node.name:
                found.append((node.name, node.op_type))
    return found


def per_text_error(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """1 - cosine per row; for one score per row, the error relative to the scores' spread."""
    if reference.ndim == 1 or reference.shape[-1] == 1:
        ref, cand = reference.reshape(-1), candidate.reshape(-1)
        return np.abs(ref - cand) / max(float(np.std(ref)), 1e-6)
    return np.nan_to_num(1.0 - cosine_rows(reference, candidate), nan=2.0)


def quantize_int8(
    src: Path,
    dst: Path,
    *,
    calibration: TokenBatch,
    gate: Thresholds,
    options: Int8Options | None = None,
) -> Int8Result:
    """Quantise `src` (fp32, ideally fused by `optimize_onnx`) into `dst`.

    `calibration` holds the tokenised calibration texts; `gate` the int8 bounds the export will
    be judged by (the search aims inside them with headroom).
    """
    import onnx

    from encoder_triton.runtime.encoder import OnnxEncoder

    options = options or Int8Options()
    target = target_for(gate, options.headroom)
    reference = OnnxEncoder(src).encode(calibration)
    graph = onnx.load(str(src), load_external_data=False)
    op_types = DYNAMIC_OPS if options.mode == "dynamic" else STATIC_OPS
    nodes = quantization_candidates(graph, op_types)
    if not nodes:
        raise ValueError(f"{src.name} has no {'/'.join(op_types)} node with float weights to quantise to int8")
    kinds = dict(nodes)

    with tempfile.TemporaryDirectory(prefix="encoder-triton-int8-") as tmp, _quiet_root_logger():
        work = Path(tmp)
        splits: list[OutlierSplit] = []
        graph_to_quantize = src
        if options.mode == "dynamic" and options.outlier_split:
            graph_to_quantize = work / "split.onnx"
            splits = split_model(src, graph_to_quantize, calibration)
        always_fp32 = tuple(name for split in splits for name in split.fp32_nodes)
        quantize = _quantizer(graph_to_quantize, work, calibration, options, op_types)

        def run(output: Path) -> np.ndarray:
            return per_text_error(reference, OnnxEncoder(output).encode(calibration))

        def measure(excluded: tuple[str, ...]) -> np.ndarray:
            return run(quantize(work / "trial.onnx", excluded=excluded + always_fp32, only=None))

        def measure_alone(node: str) -> np.ndarray:
            return run(quantize(work / "alone.onnx", excluded=(), only=(node,)))

        if options.search:
            search = choose_fp32_nodes([n for n, _ in nodes], measure, measure_alone, target)
        else:
            everything = Agreement.of(measure(()))
            search = SearchResult((), everything, everything, {}, 1)
        quantize(dst, excluded=search.excluded + always_fp32, only=None)

    kept = tuple(
        KeptNode(
            name=name,
            op_type=kinds[name],
            alone_min_cosine=search.alone[name].min_cosine,
            alone_mean_cosine=search.alone[name].mean_cosine,
        )
        for name in search.excluded
    )
    notes = []
    if options.search and not search.final.meets(target):
        notes.append(
            f"int8 search: even with {len(kept)} of {len(nodes)} nodes in fp32 the calibration texts reach "
            f"min cosine {search.final.min_cosine:.4f} / mean {search.final.mean_cosine:.4f}, short of the "
            f"target {target.min_cosine:.4f} / {target.mean_cosine:.4f}"
        )
    return Int8Result(
        path=dst,
        mode=options.mode,
        per_channel=options.per_channel,
        calibration_texts=len(calibration),
        target=target,
        all_int8=search.all_int8,
        final=search.final,
        quantized_nodes=len(nodes) - len(kept),
        kept_fp32=kept,
        trials=search.trials,
        search=options.search,
        outlier_splits=tuple(splits),
        notes=notes,
    )


Quantizer = Callable[..., Path]


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The quantiser warns on the root logger, once per call, that it prefers pre-processed
    graphs (we pre-process where it matters: static); the search calls it dozens of times."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def _quantizer(
    src: Path, work: Path, calibration: TokenBatch, options: Int8Options, op_types: Sequence[str]
) -> Quantizer:
    """A function (output, excluded, only) -> output that quantises `src` in the chosen mode."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    if options.mode == "dynamic":

        def dynamic(output: Path, *, excluded: Sequence[str], only: Sequence[str] | None) -> Path:
            quantize_dynamic(
                src,
                output,
                per_channel=options.per_channel,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=list(op_types),
                nodes_to_exclude=list(excluded),
                nodes_to_quantize=list(only) if only is not None else None,
                # A fused graph has contrib ops whose outputs carry no type; they are float.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True},
            )
            return output

        return dynamic

    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # Without shapes through the contrib ops, the static quantiser silently skips activations
    # (weights-only QDQ: accurate, but no int8 arithmetic). Symbolic inference knows them.
    inferred = work / "shapes.onnx"
    quant_pre_process(str(src), str(inferred), skip_optimization=True, skip_onnx_shape=True)
    cache = work / "calibration.json"
    feeds = [
        calibration.take(rows).arrays() for rows in np.array_split(np.argsort(calibration.lengths), 8) if len(rows)
    ]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    def static(output: Path, *, excluded: Sequence[str], only: Sequence[str] | None) -> Path:
        quantize_static(
            inferred,
            output,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=options.per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=list(op_types),
            nodes_to_exclude=list(excluded),
            nodes_to_quantize=list(only) if only is not None else None,
            extra_options={"MatMulConstBOnly": True},
            calibration_cache_path=cache,  # ranges are measured once and reused by every trial
        )
        return output

    return static
