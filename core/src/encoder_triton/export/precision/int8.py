"""INT8 for CPU: balance and split outlier channels in fp32, then dynamic per-channel int8 in one pass.

Method (measured side by side on two real models, no per-model setting; min / mean cosine to
the fp32 graph on the gate's 24 texts, then on 200 held-out Lee-corpus news sentences):

    method                                      all-mpnet-base-v2           all-MiniLM-L6-v2
    per-channel dynamic, every MatMul           0.819/0.886  0.770/0.883    0.985/0.992  0.985/0.993
    former MiniLM recipe: LayerNorm outliers    0.214/0.850  0.447/0.914    0.992/0.997  0.995/0.997
      scaled to the others' range, GELU spikes split (plus a search that re-ran the model per
      candidate node: 484 s on MPNet, and the gate still failed)
    SmoothQuant alpha 0.5, every MatMul         0.756/0.830  0.712/0.824
    SmoothQuant alpha 0.75, every MatMul        0.963/0.992  0.876/0.954
    FFN down-projections in fp32, rest int8     0.984/0.991  0.981/0.991
    down in fp32 + SmoothQuant 0.75 elsewhere   0.999/0.999  0.998/0.999   (down: 1/3 of the FLOPs)
    default: SmoothQuant 0.75 on non-activation 0.994/0.997  0.995/0.997    0.996/0.998  0.996/0.998
      inputs, activation spikes split (<= 8 channels per MatMul), every node int8
    the same with alpha 0.5                     0.995/0.997  0.992/0.997    0.997/0.998  0.996/0.998

Eight very short texts ("ok", "a", "?"...) batched with 96 sentences, min cosine: MPNet 0.808
plain, 0.994 default; MiniLM 0.959 plain, 0.983 former recipe, 0.986 default.

What breaks MPNet is the FFN down-projection: its input (a GELU output) spikes to 50-100 in one
to four channels on a few tokens in layers 6-10, where the median value is 0.1. One int8 range
per tensor then leaves ordinary values a step of 0.4: the projection's output error is 40-48% of
its norm (every other MatMul: 2-12%). A short text ('a', 'ok') is the first to show it, since
its few tokens carry the spikes' weight in the mean. channel_plan.py says which channels are
balanced and which are split, outliers.py rewrites the graph; see both for the numbers.

Then every per-token MatMul (and fused Attention, embedding Gather) is quantised once with ONNX
Runtime's dynamic per-channel quantiser (a head's MatMuls, which run once per text after pooling,
stay fp32: ~1/length of the time, and right before the labels), and the result is checked on the
calibration texts against the fp32 graph. When it misses the target (the gate's min cosine, and
its mean with `headroom`), the nodes with the largest expected int8 noise (range / rms of what
each sees after the plan, known from the same calibration pass: no per-node model run) stay in
fp32, 1, 2, 4 then 8 of them, each count measured once: at most `MAX_FALLBACK_TRIALS` more quantisations, and none on
MPNet or MiniLM. `search=False` (`--no-int8-search`) skips that fallback; `outlier_split=False`
(`--no-int8-outliers`) skips the channel step. Static QDQ (`mode="static"`, MinMax ranges from
the calibration texts) keeps the same fallback, for providers that want QDQ graphs.

Static QDQ was tried too and dropped: on MiniLM MinMax / Entropy / Percentile ranges gave
min 0.87 / 0.87 / 0.56, mean 0.93 / 0.93 / 0.79 (one fixed range cannot fit short and long texts).

Speed, MiniLM (ORT profiling, batch 8 x 128 tokens, 2 threads): integer MatMuls 39%, QAttention
38% (two thirds of it the fp32 softmax core), BiasGelu 13%, LayerNorm and residual sums 7%.

Example:
    >>> result = quantize_int8(Path("opt.onnx"), Path("int8.onnx"), calibration=batch,
    ...                        gate=Thresholds(min_cosine=0.98, mean_cosine=0.99))  # doctest: +SKIP
    >>> result.final.min_cosine >= 0.98, result.kept_fp32  # doctest: +SKIP
    (True, ())
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.export.fidelity import Thresholds, cosine_rows
from encoder_triton.export.precision.channel_plan import DEFAULT_ALPHA, ChannelPlan, plan_model
from encoder_triton.export.precision.outliers import OutlierSplit, split_model
from encoder_triton.export.precision.quantizer import ort_quantizer, quiet_root_logger
from encoder_triton.runtime.tokenization import TokenBatch

#: Ops the dynamic quantiser turns into integer kernels (MatMulInteger, QAttention, ...).
DYNAMIC_OPS = ("MatMul", "Attention", "EmbedLayerNormalization", "Gather")
#: QDQ static quantisation: MatMuls only (ONNX Runtime has no QDQ kernel for fused Attention).
STATIC_OPS = ("MatMul",)
#: Position of the weight each op type quantises (a node without a float initializer there is
#: not a candidate: e.g. attention's activation x activation MatMuls).
_WEIGHT_INPUT = {"MatMul": 1, "Attention": 1, "EmbedLayerNormalization": 2, "Gather": 0}
#: How many nodes the fallback keeps in fp32 at each of its (measured) attempts.
FALLBACK_COUNTS = (1, 2, 4, 8)
MAX_FALLBACK_TRIALS = len(FALLBACK_COUNTS)

#: Told (step, done, total) as the int8 build advances; the CLI draws a progress bar with it.
Int8Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Int8Options:
    mode: str = "dynamic"  # or "static" (QDQ, MinMax-calibrated)
    per_channel: bool = True
    #: Fraction of the gate's allowed mean error the calibration texts may use (0.5: half).
    headroom: float = 0.5
    #: True: when the all-int8 graph misses the target on the calibration texts, keep the nodes
    #: with the most expected int8 noise in fp32 (at most MAX_FALLBACK_TRIALS measured attempts).
    search: bool = True
    #: Dynamic mode: balance normalisation outputs and split activation spikes before int8
    #: (channel_plan.py, outliers.py).
    outlier_split: bool = True
    #: SmoothQuant migration strength for the balanced inputs (0: no balancing).
    alpha: float = DEFAULT_ALPHA

    def __post_init__(self) -> None:
        if self.mode not in ("dynamic", "static"):
            raise ValueError(f"int8 calibration must be 'dynamic' or 'static', got {self.mode!r}")
        if not 0 < self.headroom <= 1:
            raise ValueError(f"headroom must lie in (0, 1], got {self.headroom}")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"int8 alpha must lie in [0, 1], got {self.alpha}")


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
    and its min bound as is (the worst text is an extreme, batch-dependent statistic)."""
    min_bound = gate.min_cosine if gate.min_cosine is not None else 0.98
    mean_bound = gate.mean_cosine if gate.mean_cosine is not None else min_bound
    return Agreement(min_bound, 1.0 - headroom * (1.0 - mean_bound))


def fallback_order(plans: Mapping[str, ChannelPlan], candidates: Sequence[str]) -> list[str]:
    """`candidates` by expected int8 noise, worst first (nodes without a plan last, in order)."""
    noise = {node: plans[node].noise_to_signal if node in plans else 0.0 for node in candidates}
    return sorted(candidates, key=lambda node: -noise[node])


@dataclass(frozen=True)
class Fallback:
    excluded: tuple[str, ...]
    final: Agreement
    trials: int


def keep_noisiest_in_fp32(
    order: Sequence[str], measure: Callable[[tuple[str, ...]], Agreement], target: Agreement
) -> Fallback:
    """Keep the first 1, 2, 4, 8 nodes of `order` in fp32 until `measure(excluded)` meets
    `target`; pure logic, tested without a model. The last attempt stands if none does."""
    result = Fallback((), Agreement(0.0, 0.0), 0)
    for count in FALLBACK_COUNTS:
        excluded = tuple(order[:count])
        if not excluded or (result.excluded and len(excluded) == len(result.excluded)):
            break
        result = Fallback(excluded, measure(excluded), result.trials + 1)
        if result.final.meets(target):
            break
    return result


@dataclass(frozen=True)
class KeptNode:
    """A node left in fp32 by the fallback, and the int8 noise it was expected to add."""

    name: str
    op_type: str
    noise_to_signal: float


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
    alpha: float = DEFAULT_ALPHA
    #: MatMuls run once per text (a head after pooling), left in fp32 by rule.
    per_text_fp32: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "per_channel": self.per_channel,
            "alpha": self.alpha,
            "calibration_texts": self.calibration_texts,
            "target_on_calibration": self.target.to_dict(),
            "all_int8_on_calibration": self.all_int8.to_dict(),
            "final_on_calibration": self.final.to_dict(),
            "quantized_nodes": self.quantized_nodes,
            "kept_fp32": [
                {"node": k.name, "op_type": k.op_type, "noise_to_signal": round(k.noise_to_signal, 6)}
                for k in self.kept_fp32
            ],
            "quantise_trials": self.trials,
            "search": self.search,
            "outlier_channels": [split.to_dict() for split in self.outlier_splits],
            "per_text_fp32": list(self.per_text_fp32),
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
    progress: Int8Progress | None = None,
) -> Int8Result:
    """Quantise `src` (fp32, ideally fused by `optimize_onnx`) into `dst`.

    `calibration` holds the tokenised calibration texts; `gate` the int8 bounds the export will
    be judged by (the calibration check aims inside them with headroom).
    """
    import onnx

    from encoder_triton.runtime.encoder import OnnxEncoder

    options = options or Int8Options()
    tell = progress or (lambda step, done, total: None)
    target = target_for(gate, options.headroom)
    graph = onnx.load(str(src), load_external_data=False)
    op_types = DYNAMIC_OPS if options.mode == "dynamic" else STATIC_OPS
    nodes = quantization_candidates(graph, op_types)
    if not nodes:
        raise ValueError(f"{src.name} has no {'/'.join(op_types)} node with float weights to quantise to int8")
    kinds = dict(nodes)
    balancing = options.mode == "dynamic" and options.outlier_split
    # Steps: the calibration pass (sub-batches of 8), the reference run, one quantisation, one check.
    batches = -(-len(calibration) // 8)
    total = batches + 3

    def stats_progress(done: int, _: int) -> None:
        tell("measuring activation ranges", done, total)

    with tempfile.TemporaryDirectory(prefix="encoder-triton-int8-") as tmp, quiet_root_logger():
        work = Path(tmp)
        splits: list[OutlierSplit] = []
        plans: dict[str, ChannelPlan] = {}
        graph_to_quantize = src
        if balancing:
            graph_to_quantize = work / "split.onnx"
            splits, plans = split_model(
                src, graph_to_quantize, calibration, alpha=options.alpha, progress=stats_progress
            )
        tell("running the fp32 reference", batches + 1, total)
        reference = _judged(OnnxEncoder(src).encode_outputs(calibration))
        # A MatMul that runs once per text (a classifier head after pooling) costs ~1/length of
        # a per-token one: int8 buys no time there and adds error right before the output.
        per_text = tuple(node for node, plan in plans.items() if not plan.per_token)
        always_fp32 = per_text + tuple(name for split in splits for name in split.fp32_nodes)
        quantize = ort_quantizer(graph_to_quantize, work, calibration, options, op_types)

        def measure(excluded: tuple[str, ...], output: Path) -> Agreement:
            quantize(output, excluded=excluded + always_fp32)
            return Agreement.of(per_text_error(reference, _judged(OnnxEncoder(output).encode_outputs(calibration))))

        tell("quantising", batches + 2, total)
        everything = measure((), dst)
        tell("checking on the calibration texts", total, total)
        fallback = Fallback((), everything, 1)
        if options.search and not everything.meets(target):
            if not plans:  # the ranking needs the calibration pass the channel step skipped
                plans = plan_model(onnx.load(str(src)), calibration, alpha=0.0)
            order = fallback_order(plans, [name for name, _ in nodes if name not in per_text])
            attempts = 0

            def attempt(excluded: tuple[str, ...]) -> Agreement:
                nonlocal attempts
                attempts += 1
                tell(f"keeping {len(excluded)} nodes in fp32", total, total + MAX_FALLBACK_TRIALS)
                return measure(excluded, dst)

            tried = keep_noisiest_in_fp32(order, attempt, target)
            fallback = Fallback(tried.excluded, tried.final, 1 + tried.trials)

    kept = tuple(
        KeptNode(name, kinds[name], plans[name].noise_to_signal if name in plans else 0.0) for name in fallback.excluded
    )
    notes = []
    if not fallback.final.meets(target):
        notes.append(
            f"int8: with {len(kept)} of {len(nodes)} nodes in fp32 the calibration texts reach "
            f"min cosine {fallback.final.min_cosine:.4f} / mean {fallback.final.mean_cosine:.4f}, short of the "
            f"target {target.min_cosine:.4f} / {target.mean_cosine:.4f}"
        )
    return Int8Result(
        path=dst,
        mode=options.mode,
        per_channel=options.per_channel,
        calibration_texts=len(calibration),
        target=target,
        all_int8=everything,
        final=fallback.final,
        quantized_nodes=len(nodes) - len(kept) - len([n for n, _ in nodes if n in per_text]),
        kept_fp32=kept,
        trials=fallback.trials,
        search=options.search,
        outlier_splits=tuple(splits),
        alpha=options.alpha if balancing else 0.0,
        per_text_fp32=per_text,
        notes=notes,
    )


#: The output the fidelity gate judges for each task (pipeline.py), so calibration checks the same.
_JUDGED_OUTPUTS = (contract.EMBEDDING, contract.PROBABILITIES, contract.SCORE)


def _judged(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The gate's output among `outputs` (a classifier's probabilities, not its logits: softmax
    can turn a small logit error into a large probability one), else the first."""
    for name in _JUDGED_OUTPUTS:
        if name in outputs:
            return outputs[name]
    return next(iter(outputs.values()))
