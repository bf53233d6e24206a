"""FP16 for the GPU: float16 weights and arithmetic, with I/O and the sensitive ops left in fp32.

`onnxruntime.transformers` converts the graph (after the GPU fusions of `optimize_onnx`) and
inserts the casts. What stays fp32, and why:

- the inputs and the EMBEDDING output (`keep_io_types`): the Triton config and the clients
  speak FP32 whatever the precision inside;
- the pooling and normalisation appended by `pooling.fold_pooling` (nodes named `et_pool/...`):
  a sum of squares over hundreds of dimensions overflows fp16's 65504 for large activations,
  and its epsilon (1e-12) and the max-pooling fill (-1e9) are not representable in fp16;
- reductions and powers of unfused LayerNorm / RMSNorm patterns (ReduceMean, Pow, Sqrt,
  ReduceSum): variance in fp16 loses most of its digits. Fused LayerNorm kernels accumulate
  in fp32 on their own.

ONNX Runtime 1.32's CPU provider runs the result too (slowly), so the export-time gate
measures fp16 fidelity even on machines without a GPU.

Example:
    >>> result = convert_fp16(Path("opt.onnx"), Path("fp16.onnx"))  # doctest: +SKIP
    >>> result.kept_fp32_ops  # doctest: +SKIP
    ('Pow', 'ReduceMean', 'ReduceSum', 'Sqrt')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Pooling nodes appended by `pooling.fold_pooling` all carry this prefix.
POOLING_PREFIX = "et_pool/"
#: Ops kept in fp32 on top of onnxruntime's own block list.
SENSITIVE_OPS = ("Pow", "ReduceMean", "ReduceSum", "Sqrt")


@dataclass(frozen=True)
class Fp16Result:
    path: Path
    kept_fp32_ops: tuple[str, ...]
    kept_fp32_nodes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kept_fp32_ops": list(self.kept_fp32_ops),
            "kept_fp32_nodes": list(self.kept_fp32_nodes),
            "io": "fp32",
        }


def convert_fp16(
    src: Path,
    dst: Path,
    *,
    sensitive_ops: Sequence[str] = SENSITIVE_OPS,
    keep_prefixes: Sequence[str] = (POOLING_PREFIX,),
) -> Fp16Result:
    """Convert `src` to float16 in `dst`, keeping I/O, `sensitive_ops` and nodes whose names
    start with `keep_prefixes` in fp32."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(src)))
    kept_nodes = tuple(n.name for n in model.nodes() if n.name.startswith(tuple(keep_prefixes)))
    present = {n.op_type for n in model.nodes()}
    kept_ops = tuple(sorted(op for op in sensitive_ops if op in present))
    model.convert_float_to_float16(
        keep_io_types=True,
        op_block_list=[*DEFAULT_OP_BLOCK_LIST, *sensitive_ops],
        node_block_list=list(kept_nodes),
    )
    dst.parent.mkdir(parents=True, exist_ok=True)
    external = src.with_name(src.name + ".data").exists()
    model.save_model_to_file(str(dst), use_external_data_format=external)
    return Fp16Result(path=dst, kept_fp32_ops=kept_ops, kept_fp32_nodes=kept_nodes)
