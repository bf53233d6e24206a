"""The int8 search: which nodes stay fp32, decided on measured per-node errors (no model)."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from encoder_triton.export.fidelity import Thresholds
from encoder_triton.export.precision.int8 import (
    DYNAMIC_OPS,
    STATIC_OPS,
    Int8Options,
    choose_fp32_nodes,
    per_text_error,
    quantization_candidates,
    target_for,
)

GATE = Thresholds(min_cosine=0.98, mean_cosine=0.99)


class FakeModel:
    """Per-text errors add up over quantised nodes; node 'big' hurts text 0 a lot."""

    def __init__(self, errors: dict[str, list[float]]) -> None:
        self.errors = {k: np.array(v) for k, v in errors.items()}
        self.calls: list[tuple[str, ...]] = []

    def measure(self, excluded: tuple[str, ...]) -> np.ndarray:
        self.calls.append(excluded)
        return sum((e for n, e in self.errors.items() if n not in excluded), np.zeros(3))

    def alone(self, node: str) -> np.ndarray:
        return self.errors[node]


def test_target_keeps_headroom_on_the_mean_and_the_gate_s_min() -> None:
    half, full = target_for(GATE, 0.5), target_for(GATE, 1.0)
    assert (half.min_cosine, half.mean_cosine) == (0.98, pytest.approx(0.995))
    assert (full.min_cosine, full.mean_cosine) == (0.98, pytest.approx(0.99))


def test_nothing_is_kept_when_everything_meets_the_target() -> None:
    model = FakeModel({"a": [0.001, 0.001, 0.001], "b": [0.001, 0.001, 0.001]})
    result = choose_fp32_nodes(["a", "b"], model.measure, model.alone, target_for(GATE, 0.5))
    assert result.excluded == () and result.trials == 1 and model.calls == [()]


def test_the_worst_nodes_are_kept_and_the_cheap_ones_quantised() -> None:
    model = FakeModel(
        {
            "big": [0.03, 0.002, 0.002],  # ruins the worst text
            "mid": [0.004, 0.004, 0.004],
            "small1": [0.0005, 0.0005, 0.0005],
            "small2": [0.0005, 0.0005, 0.0005],
        }
    )
    result = choose_fp32_nodes(["small1", "mid", "big", "small2"], model.measure, model.alone, target_for(GATE, 0.5))
    assert result.excluded == ("big",)
    assert result.final.meets(target_for(GATE, 0.5))
    assert result.all_int8.min_cosine == pytest.approx(1 - 0.035)
    assert result.alone["big"].min_cosine == pytest.approx(0.97)
    assert result.trials == 1 + 4 + 1  # all, each alone, the predicted set


def test_the_search_walks_up_when_the_prediction_is_short() -> None:
    # Errors are super-additive here: the prediction says one node, two are needed.
    errors = {"a": [0.012, 0.0, 0.0], "b": [0.008, 0.0, 0.0], "c": [0.001, 0.0, 0.0]}

    def measure(excluded: tuple[str, ...]) -> np.ndarray:
        kept = [n for n in errors if n not in excluded]
        return np.array([0.03 * len(kept) / 3 if kept != ["c"] else 0.001, 0.0, 0.0])

    result = choose_fp32_nodes(list(errors), measure, lambda n: np.array(errors[n]), target_for(GATE, 0.5))
    assert result.excluded == ("a", "b")
    assert result.trials == 1 + 3 + 2  # predicted one node, measured, then walked up to two


def test_all_nodes_kept_is_the_end_of_the_search() -> None:
    def measure(excluded: tuple[str, ...]) -> np.ndarray:
        return np.array([0.5, 0.5, 0.5])  # nothing helps (e.g. a broken graph)

    result = choose_fp32_nodes(["a", "b"], measure, lambda n: np.array([0.1, 0.1, 0.1]), target_for(GATE, 0.5))
    assert set(result.excluded) == {"a", "b"} and not result.final.meets(target_for(GATE, 0.5))


def test_per_text_error_is_one_minus_cosine_or_relative_score_error() -> None:
    reference = np.eye(2)
    np.testing.assert_allclose(per_text_error(reference, reference), [0.0, 0.0], atol=1e-12)
    scores = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(per_text_error(scores, scores + [0, 0, 0.5]), [0, 0, 0.5 / np.std(scores)])


def test_candidates_are_nodes_with_float_weights_only() -> None:
    weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["y"], name="dense"),
            helper.make_node("MatMul", ["y", "y"], ["z"], name="scores"),  # activation x activation
            helper.make_node("Gather", ["w", "ids"], ["e"], name="embed"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 4])],
        initializer=[weight],
    )
    model = helper.make_model(graph)
    assert quantization_candidates(model, DYNAMIC_OPS) == [("dense", "MatMul"), ("embed", "Gather")]
    assert quantization_candidates(model, STATIC_OPS) == [("dense", "MatMul")]


def test_options_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="dynamic' or 'static"):
        Int8Options(mode="awq")
    with pytest.raises(ValueError, match="headroom"):
        Int8Options(headroom=0)
