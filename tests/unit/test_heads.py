"""Softmax / sigmoid folded into the ONNX graph, checked with ONNX Runtime against numpy."""

from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.contract import Activation
from encoder_triton.export.graph.heads import (
    ClassificationHead,
    RerankHead,
    activate,
    classification_head,
    fold_classification,
    fold_rerank,
)


def _logits_graph(width: int) -> Any:
    """A stand-in for optimum's export: input `x` [batch, width] -> output `logits`."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["logits"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", width])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"x": x}), strict=True))


LOGITS = np.array([[2.0, -1.0, 0.5], [-3.0, 4.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)


@pytest.mark.parametrize("multi_label", [False, True])
def test_classification_head_folds_the_right_activation(multi_label: bool) -> None:
    head = ClassificationHead(labels=("a", "b", "c"), multi_label=multi_label)
    out = _run(fold_classification(_logits_graph(3), logits="logits", head=head), LOGITS)
    assert list(out) == [contract.LOGITS, contract.PROBABILITIES]
    np.testing.assert_allclose(out[contract.LOGITS], LOGITS)
    np.testing.assert_allclose(out[contract.PROBABILITIES], head.probabilities(LOGITS), atol=1e-6)
    if multi_label:
        assert head.activation is Activation.SIGMOID
    else:
        np.testing.assert_allclose(out[contract.PROBABILITIES].sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("num_labels", [1, 2])
def test_rerank_head_scores_are_the_sigmoid_of_the_log_odds(num_labels: int) -> None:
    head = RerankHead(num_labels=num_labels)
    logits = LOGITS[:, :num_labels]
    out = _run(fold_rerank(_logits_graph(num_labels), logits="logits", head=head), np.ascontiguousarray(logits))
    assert list(out) == [contract.SCORE, contract.RAW_SCORE]
    raw = logits[:, :1] if num_labels == 1 else logits[:, 1:2] - logits[:, 0:1]
    np.testing.assert_allclose(out[contract.RAW_SCORE], raw, atol=1e-6)
    np.testing.assert_allclose(out[contract.SCORE], 1 / (1 + np.exp(-raw)), atol=1e-6)
    if num_labels == 2:  # sigmoid(l1 - l0) is softmax's probability of "relevant"
        np.testing.assert_allclose(out[contract.SCORE][:, 0], activate(logits, Activation.SOFTMAX)[:, 1], atol=1e-6)


def test_labels_come_from_id2label_in_id_order() -> None:
    head = classification_head({"id2label": {"2": "positive", "0": "negative", "1": "neutral"}})
    assert head.labels == ("negative", "neutral", "positive")
    assert head.activation is Activation.SOFTMAX
    assert classification_head({"num_labels": 2}).labels == ("LABEL_0", "LABEL_1")
    multi = classification_head(
        {"id2label": {"0": "toxic", "1": "insult"}, "problem_type": "multi_label_classification"}
    )
    assert multi.activation is Activation.SIGMOID
    # Softmax over a lone label is always 1: a single-label head is scored on its own.
    assert ClassificationHead(labels=("toxic",)).activation is Activation.SIGMOID


def test_rerank_heads_have_one_or_two_labels() -> None:
    with pytest.raises(ValueError, match="one or two labels"):
        RerankHead(num_labels=3)
