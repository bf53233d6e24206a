"""ONNX Runtime's quantisers behind one call: (output, excluded nodes) -> the int8 graph.

int8.py decides what to quantise; this module only drives `quantize_dynamic` (per-channel int8
weights, activations quantised at run time) or `quantize_static` (QDQ with MinMax ranges from
the calibration texts, measured once and cached for every later call).

Example:
    >>> quantize = ort_quantizer(Path("split.onnx"), work, batch, Int8Options(), ("MatMul",))  # doctest: +SKIP
    >>> quantize(Path("int8.onnx"), excluded=("/pooler/dense/MatMul",))  # doctest: +SKIP
    PosixPath('int8.onnx')
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from encoder_triton.runtime.tokenization import TokenBatch

if TYPE_CHECKING:
    from encoder_triton.export.precision.int8 import Int8Options

Quantizer = Callable[..., Path]


@contextlib.contextmanager
def quiet_root_logger() -> Iterator[None]:
    """The quantiser warns on the root logger, once per call, that it prefers pre-processed
    graphs (we pre-process where it matters: static)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def ort_quantizer(
    src: Path, work: Path, calibration: TokenBatch, options: Int8Options, op_types: Sequence[str]
) -> Quantizer:
    """A function (output, excluded) -> output that quantises `src` in the chosen mode."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    if options.mode == "dynamic":

        def dynamic(output: Path, *, excluded: Sequence[str]) -> Path:
            quantize_dynamic(
                src,
                output,
                per_channel=options.per_channel,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=list(op_types),
                nodes_to_exclude=list(excluded),
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

    def static(output: Path, *, excluded: Sequence[str]) -> Path:
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
            extra_options={"MatMulConstBOnly": True},
            calibration_cache_path=cache,  # ranges are measured once and reused by every attempt
        )
        return output

    return static
