"""The CPU graph keeps residual Add + LayerNorm out of ONNX Runtime's slow SkipLayerNormalization."""

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from encoder_triton.export.precision.optimize import residual_adds_as_sum


def _residual_block() -> tuple[object, dict[str, np.ndarray]]:
    hidden = 8
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((hidden, hidden)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32), "bias"),
        numpy_helper.from_array(np.ones(hidden, np.float32), "gamma"),
        numpy_helper.from_array(np.zeros(hidden, np.float32), "beta"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"], name="dense"),
        helper.make_node("Add", ["mm", "bias"], ["biased"], name="bias_add"),
        helper.make_node("Add", ["biased", "x"], ["residual"], name="residual_add"),
        helper.make_node("LayerNormalization", ["residual", "gamma", "beta"], ["y"], name="ln", axis=-1),
        helper.make_node("Add", ["x", "x"], ["twice"], name="shared_add"),  # feeds two nodes: left alone
        helper.make_node("LayerNormalization", ["twice", "gamma", "beta"], ["z"], name="ln2", axis=-1),
        helper.make_node("Identity", ["twice"], ["t"], name="also_uses_twice"),
    ]
    shape = ["batch", "sequence", hidden]
    graph = helper.make_graph(
        nodes,
        "block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("y", "z", "t")],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model, {"x": rng.standard_normal((2, 3, hidden)).astype(np.float32)}


def test_residual_add_before_layer_norm_becomes_sum_with_the_same_result() -> None:
    model, feed = _residual_block()
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)
    assert residual_adds_as_sum(model) == 1
    ops = {n.name: n.op_type for n in model.graph.node}
    assert ops["residual_add"] == "Sum" and ops["bias_add"] == "Add" and ops["shared_add"] == "Add"
    after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
