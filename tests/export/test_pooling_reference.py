"""fold_pooling against sentence-transformers' own pooling arithmetic, for every mode."""

import numpy as np
import pytest
import torch

from encoder_triton.export.fidelity.reference import _pool_torch
from encoder_triton.export.graph.pooling import MODES, Pooling, fold_pooling

pytestmark = pytest.mark.export


def _identity_encoder(hidden_size: int):  # type: ignore[no-untyped-def]
    """A graph whose 'last_hidden_state' is just its input, so pooling is all that is tested."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["hidden_in"], ["last_hidden_state"])],
        "identity",
        [
            helper.make_tensor_value_info("hidden_in", TensorProto.FLOAT, ["b", "s", hidden_size]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["b", "s", hidden_size])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize(
    "pooling",
    [Pooling(modes=(mode,), normalize=normalize) for mode in MODES for normalize in (False, True)]
    + [Pooling(modes=("cls", "mean"), normalize=True)],
    ids=lambda p: "+".join(p.modes) + ("-norm" if p.normalize else ""),
)
def test_folded_pooling_equals_reference(pooling: Pooling) -> None:
    import onnxruntime as ort

    model = fold_pooling(
        _identity_encoder(8), hidden="last_hidden_state", mask="attention_mask", pooling=pooling, output="EMBEDDING"
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    hidden = rng.normal(size=(3, 5, 8)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=np.int64)
    got = session.run(None, {"hidden_in": hidden, "attention_mask": mask})[0]
    expected = _pool_torch(torch.from_numpy(hidden), torch.from_numpy(mask), pooling).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
