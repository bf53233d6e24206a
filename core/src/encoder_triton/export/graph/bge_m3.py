"""bge-m3's sparse and multi-vector (ColBERT) heads, folded into the graph beside its dense output.

A bge-m3-style folder ships, beside the XLM-R weights, `sparse_linear.pt` (Linear(hidden, 1))
and `colbert_linear.pt` (Linear(hidden, dim)); that is how the exporter recognises one. One
forward pass then answers three forms (as FlagEmbedding's `BGEM3Model` computes them):

    dense     EMBEDDING: the model's own pooling (CLS), normalised
    sparse    TOKEN_WEIGHTS [batch, seq]       = relu(sparse_linear(hidden))
    colbert   TOKEN_VECTORS [batch, seq-1, dim] = normalize(colbert_linear(hidden[:, 1:]) * mask[:, 1:])

The per-token outputs are turned into each text's token-id weights and vectors by the encoder
step (runtime/token_outputs.py), which also drops the special tokens the model names here.

Example:
    >>> heads = read_heads("path/to/bge-m3")  # doctest: +SKIP
    >>> heads.colbert_dimension, heads.special_token_ids  # doctest: +SKIP
    (1024, (0, 1, 2, 3))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton import contract

SPARSE_FILE = "sparse_linear.pt"
COLBERT_FILE = "colbert_linear.pt"
#: The fp32 export's bounds for the two per-token outputs, against PyTorch.
SPARSE_MAX_ABS_ERROR = 1e-4
COLBERT_MIN_COSINE = 0.9999


@dataclass(frozen=True)
class M3Heads:
    """The two heads' weights (torch's Linear layout: weight [out, in], bias [out]) and the token
    ids the sparse output leaves out (CLS, EOS, PAD, UNK)."""

    sparse_weight: np.ndarray
    sparse_bias: np.ndarray
    colbert_weight: np.ndarray
    colbert_bias: np.ndarray
    special_token_ids: tuple[int, ...]

    @property
    def colbert_dimension(self) -> int:
        return int(self.colbert_weight.shape[0])


def is_bge_m3(model_dir: str | Path) -> bool:
    """A folder with both head files beside its weights."""
    root = Path(model_dir)
    return (root / SPARSE_FILE).is_file() and (root / COLBERT_FILE).is_file()


def read_heads(model_dir: str | Path) -> M3Heads | None:
    """The heads of a bge-m3-style folder, None for any other."""
    import torch
    import transformers

    root = Path(model_dir)
    if not is_bge_m3(root):
        return None

    def linear(name: str) -> tuple[np.ndarray, np.ndarray]:
        state = torch.load(root / name, map_location="cpu", weights_only=True)
        return state["weight"].float().numpy(), state["bias"].float().numpy()

    sparse_weight, sparse_bias = linear(SPARSE_FILE)
    colbert_weight, colbert_bias = linear(COLBERT_FILE)
    if sparse_weight.shape[0] != 1 or colbert_weight.shape[1] != sparse_weight.shape[1]:
        raise ValueError(
            f"{SPARSE_FILE} must hold Linear(hidden, 1) and {COLBERT_FILE} Linear(hidden, dim), got "
            f"{sparse_weight.shape} and {colbert_weight.shape}"
        )
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(root))
    specials = (tokenizer.cls_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id)
    return M3Heads(
        sparse_weight,
        sparse_bias,
        colbert_weight,
        colbert_bias,
        tuple(sorted({int(i) for i in specials if i is not None})),
    )


def fold_heads(model: Any, *, hidden: str, mask: str, heads: M3Heads) -> Any:
    """Return `model` with TOKEN_WEIGHTS and TOKEN_VECTORS appended to its outputs, computed from
    the tensor `hidden` ([batch, seq, hidden], still in the graph) and the input `mask`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        full = f"et_m3/{name}"
        graph.initializer.append(numpy_helper.from_array(value, full))
        return full

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        out = f"et_m3/{name}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    last_axis = np.array([-1], dtype=np.int64)
    # sparse: relu(hidden @ W^T + b), one weight per token
    weights = node(
        "Relu",
        [
            node(
                "Add",
                [
                    node("MatMul", [hidden, const("sparse_w", heads.sparse_weight.T.copy())], "sparse_mm"),
                    const("sparse_b", heads.sparse_bias),
                ],
                "sparse_lin",
            )
        ],
        "sparse_relu",
    )
    if opset >= 13:
        weights = node("Squeeze", [weights, const("last_axis", last_axis)], "sparse_squeeze")
    else:
        weights = node("Squeeze", [weights], "sparse_squeeze", axes=[-1])
    # colbert: the tokens after CLS, projected, masked, L2-normalised
    one, big, axis1 = (np.array([v], dtype=np.int64) for v in (1, np.iinfo(np.int64).max, 1))
    starts, ends, axes = const("one", one), const("end", big), const("axis1", axis1)
    tokens = node("Slice", [hidden, starts, ends, axes], "after_cls")
    vectors = node(
        "Add",
        [
            node("MatMul", [tokens, const("colbert_w", heads.colbert_weight.T.copy())], "colbert_mm"),
            const("colbert_b", heads.colbert_bias),
        ],
        "colbert_lin",
    )
    mask_after = node(
        "Cast", [node("Slice", [mask, starts, ends, axes], "mask_after_cls")], "mask_f", to=TensorProto.FLOAT
    )
    if opset >= 13:
        mask_e = node("Unsqueeze", [mask_after, const("last_axis_u", last_axis)], "mask_e")
    else:
        mask_e = node("Unsqueeze", [mask_after], "mask_e", axes=[-1])
    masked = node("Mul", [vectors, mask_e], "colbert_masked")
    if opset >= 13:
        square_sum = node(
            "ReduceSum", [node("Mul", [masked, masked], "sq"), const("last_axis_r", last_axis)], "sq_sum", keepdims=1
        )
    else:
        square_sum = node("ReduceSum", [node("Mul", [masked, masked], "sq")], "sq_sum", axes=[-1], keepdims=1)
    norm = node(
        "Max", [node("Sqrt", [square_sum], "norm_raw"), const("eps", np.array(1e-12, dtype=np.float32))], "norm"
    )
    normalized = node("Div", [masked, norm], "colbert_normalized")
    nodes.append(helper.make_node("Identity", [weights], [contract.TOKEN_WEIGHTS], name="et_m3/token_weights"))
    nodes.append(helper.make_node("Identity", [normalized], [contract.TOKEN_VECTORS], name="et_m3/token_vectors"))
    graph.node.extend(nodes)
    graph.output.append(
        helper.make_tensor_value_info(contract.TOKEN_WEIGHTS, TensorProto.FLOAT, ["batch_size", "sequence"])
    )
    graph.output.append(
        helper.make_tensor_value_info(
            contract.TOKEN_VECTORS, TensorProto.FLOAT, ["batch_size", "sequence_after_cls", heads.colbert_dimension]
        )
    )
    onnx.checker.check_model(model, full_check=False)
    return model


def fold_heads_into_file(path: Path, *, hidden: str, heads: M3Heads) -> tuple[str, ...]:
    """Fold the heads into the ONNX file at `path` (in place); its output names after."""
    import onnx

    model = onnx.load(str(path))
    model = fold_heads(model, hidden=hidden, mask=contract.ATTENTION_MASK, heads=heads)
    external = model.ByteSize() > 1_800_000_000  # the protobuf limit, as onnx_export
    onnx.save(model, str(path), save_as_external_data=external, location=path.name + ".data" if external else None)
    return tuple(o.name for o in model.graph.output)


def reference_outputs(
    model_dir: Path, heads: M3Heads, texts: Sequence[str], *, max_length: int
) -> dict[str, list[np.ndarray]]:
    """Per text, in PyTorch: the real tokens' sparse weights and the ColBERT vectors (tokens 1
    .. length - 1), as BGE-M3's model computes them; what the export is checked against."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    model = transformers.AutoModel.from_pretrained(str(model_dir)).eval()
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state.float()
        weights = torch.relu(hidden @ torch.from_numpy(heads.sparse_weight).T + torch.from_numpy(heads.sparse_bias))
        vectors = hidden[:, 1:] @ torch.from_numpy(heads.colbert_weight).T + torch.from_numpy(heads.colbert_bias)
        vectors = vectors * batch["attention_mask"][:, 1:, None].float()
        vectors = torch.nn.functional.normalize(vectors, dim=-1)
    lengths = batch["attention_mask"].sum(1).tolist()
    return {
        contract.TOKEN_WEIGHTS: [weights[i, :n, 0].numpy() for i, n in enumerate(lengths)],
        contract.TOKEN_VECTORS: [vectors[i, : n - 1].numpy() for i, n in enumerate(lengths)],
    }


def check_heads(
    served: dict[str, np.ndarray], lengths: np.ndarray, reference: dict[str, list[np.ndarray]]
) -> list[str]:
    """Every text whose sparse weights differ from `reference` by more than 1e-4, or whose
    ColBERT vectors fall below cosine 0.9999 (the fp32 bounds); empty when all agree."""
    failures = []
    for row, n in enumerate(int(n) for n in lengths):
        weights = served[contract.TOKEN_WEIGHTS][row, :n]
        error = float(np.abs(weights - reference[contract.TOKEN_WEIGHTS][row]).max())
        if error > SPARSE_MAX_ABS_ERROR:
            failures.append(f"text {row}: sparse weights differ by {error:.2e} (bound {SPARSE_MAX_ABS_ERROR:g})")
        vectors = served[contract.TOKEN_VECTORS][row, : n - 1].astype(np.float64)
        expected = reference[contract.TOKEN_VECTORS][row].astype(np.float64)
        cosine = (vectors * expected).sum(1) / np.maximum(
            np.linalg.norm(vectors, axis=1) * np.linalg.norm(expected, axis=1), 1e-12
        )
        if len(cosine) and cosine.min() < COLBERT_MIN_COSINE:
            failures.append(f"text {row}: a ColBERT vector has cosine {cosine.min():.6f} (bound {COLBERT_MIN_COSINE})")
    return failures
