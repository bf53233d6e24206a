"""Classification and rerank heads: what turns a sequence classifier's logits into answers.

optimum exports a `*ForSequenceClassification` model with one output, `logits`; the functions
here append the activation to the graph, as `pooling.fold_pooling` appends pooling, so Triton's
encoder step answers in the shape of the task:

    classify   LOGITS [n]  and PROBABILITIES [n] = softmax(LOGITS), or sigmoid(LOGITS) for
               `problem_type == "multi_label_classification"` (and for a lone label)
    rerank     RAW_SCORE [1] = the logit (or logit[1] - logit[0] for a two-label cross-encoder)
               and SCORE [1] = sigmoid(RAW_SCORE)

Example:
    >>> head = classification_head({"id2label": {"0": "neg", "1": "pos"}})
    >>> head.labels, head.activation.value
    (('neg', 'pos'), 'softmax')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.contract import Activation
from encoder_triton.export.source.tasks import num_labels

MULTI_LABEL = "multi_label_classification"


@dataclass(frozen=True)
class ClassificationHead:
    """The labels (in LOGITS column order) and the activation of a classifier."""

    labels: tuple[str, ...]
    multi_label: bool = False

    @property
    def activation(self) -> Activation:
        # Softmax over one label is always 1: a lone label is scored on its own.
        return Activation.SIGMOID if self.multi_label or len(self.labels) == 1 else Activation.SOFTMAX

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """The activation in numpy (float64), for references and tests."""
        return activate(np.asarray(logits, dtype=np.float64), self.activation)


@dataclass(frozen=True)
class RerankHead:
    """A cross-encoder's head: one logit, or two (irrelevant, relevant)."""

    num_labels: int = 1

    def __post_init__(self) -> None:
        if self.num_labels not in (1, 2):
            raise ValueError(f"a rerank head has one or two labels, got {self.num_labels}")

    def raw_scores(self, logits: np.ndarray) -> np.ndarray:
        """RAW_SCORE from logits [rows, num_labels], in numpy (float64)."""
        logits = np.asarray(logits, dtype=np.float64)
        return logits[:, :1] if self.num_labels == 1 else logits[:, 1:2] - logits[:, 0:1]


def classification_head(config: dict[str, Any]) -> ClassificationHead:
    """Labels from `id2label` (ordered by id; `LABEL_i` when absent) and the problem type."""
    count = num_labels(config)
    id2label = {int(k): str(v) for k, v in (config.get("id2label") or {}).items()}
    labels = tuple(id2label.get(i, f"LABEL_{i}") for i in range(count))
    return ClassificationHead(labels=labels, multi_label=config.get("problem_type") == MULTI_LABEL)


def activate(logits: np.ndarray, activation: Activation) -> np.ndarray:
    if activation is Activation.SIGMOID:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def fold_classification(model: Any, *, logits: str, head: ClassificationHead) -> Any:
    """Return `model` with outputs LOGITS and PROBABILITIES [batch, num_labels]."""
    from onnx import helper

    nodes = [helper.make_node("Identity", [logits], [contract.LOGITS], name="et_head/logits")]
    if head.activation is Activation.SIGMOID:
        nodes.append(helper.make_node("Sigmoid", [logits], [contract.PROBABILITIES], name="et_head/sigmoid"))
    else:
        nodes.append(helper.make_node("Softmax", [logits], [contract.PROBABILITIES], name="et_head/softmax", axis=-1))
    return _replace_outputs(model, nodes, [], (contract.LOGITS, contract.PROBABILITIES))


def fold_rerank(model: Any, *, logits: str, head: RerankHead) -> Any:
    """Return `model` with outputs SCORE and RAW_SCORE [batch, 1]."""
    from onnx import TensorProto, helper

    nodes: list[Any] = []
    inits: list[Any] = []
    if head.num_labels == 1:
        raw = logits
    else:
        # log-odds of "relevant": sigmoid(l1 - l0) equals softmax(l)[1].
        for name, index in (("relevant", 1), ("irrelevant", 0)):
            inits.append(helper.make_tensor(f"et_head/{name}_index", TensorProto.INT64, [1], [index]))
            nodes.append(
                helper.make_node(
                    "Gather", [logits, f"et_head/{name}_index"], [f"et_head/{name}"], name=f"et_head/{name}", axis=1
                )
            )
        raw = "et_head/log_odds"
        nodes.append(helper.make_node("Sub", ["et_head/relevant", "et_head/irrelevant"], [raw], name=raw))
    nodes.append(helper.make_node("Identity", [raw], [contract.RAW_SCORE], name="et_head/raw_score"))
    nodes.append(helper.make_node("Sigmoid", [raw], [contract.SCORE], name="et_head/sigmoid"))
    return _replace_outputs(model, nodes, inits, (contract.SCORE, contract.RAW_SCORE))


def _replace_outputs(model: Any, nodes: list[Any], inits: list[Any], outputs: tuple[str, ...]) -> Any:
    import onnx
    from onnx import TensorProto, helper

    graph = model.graph
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    del graph.output[:]
    for name in outputs:
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch_size", None]))
    onnx.checker.check_model(model, full_check=False)
    return model
