"""The int8 fallback: which nodes stay fp32 when the all-int8 graph misses its target (no model)."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from encoder_triton.export.fidelity import Thresholds
from encoder_triton.export.precision.channel_plan import ChannelPlan
from encoder_triton.export.precision.int8 import (
    DYNAMIC_OPS,
    FALLBACK_COUNTS,
    MAX_FALLBACK_TRIALS,
    STATIC_OPS,
    Agreement,
    Int8Options,
    fallback_order,
    keep_noisiest_in_fp32,
    per_text_error,
    quantization_candidates,
    target_for,
)

GATE = Thresholds(min_cosine=0.98, mean_cosine=0.99)


def test_target_keeps_headroom_on_the_mean_and_the_gate_s_min() -> None:
    half, full = target_for(GATE, 0.5), target_for(GATE, 1.0)
    assert (half.min_cosine, half.mean_cosine) == (0.98, pytest.approx(0.995))
    assert (full.min_cosine, full.mean_cosine) == (0.98, pytest.approx(0.99))


def _plan(noise: float) -> ChannelPlan:
    return ChannelPlan(split=(), factors=(), range_before=1.0, range_after=1.0, noise_to_signal=noise)


def test_the_noisiest_nodes_come_first_and_unplanned_ones_last() -> None:
    plans = {"q": _plan(0.01), "down": _plan(0.2), "up": _plan(0.05)}
    assert fallback_order(plans, ["q", "embed", "up", "down"]) == ["down", "up", "q", "embed"]


def test_the_fallback_stops_at_the_first_count_that_meets_the_target() -> None:
    calls: list[tuple[str, ...]] = []

    def measure(excluded: tuple[str, ...]) -> Agreement:
        calls.append(excluded)
        return Agreement(0.99, 0.997) if len(excluded) >= 2 else Agreement(0.97, 0.993)

    result = keep_noisiest_in_fp32(["a", "b", "c", "d", "e"], measure, target_for(GATE, 0.5))
    assert result.excluded == ("a", "b") and result.trials == 2 and calls == [("a",), ("a", "b")]
    assert result.final.meets(target_for(GATE, 0.5))


def test_the_fallback_is_bounded_and_the_last_attempt_stands() -> None:
    calls: list[tuple[str, ...]] = []

    def measure(excluded: tuple[str, ...]) -> Agreement:
        calls.append(excluded)
        return Agreement(0.5, 0.5)  # nothing helps (e.g. a broken graph)

    nodes = [f"n{i}" for i in range(20)]
    result = keep_noisiest_in_fp32(nodes, measure, target_for(GATE, 0.5))
    assert [len(c) for c in calls] == list(FALLBACK_COUNTS) and result.trials == MAX_FALLBACK_TRIALS
    assert result.excluded == tuple(nodes[:8]) and not result.final.meets(target_for(GATE, 0.5))
    few: list[tuple[str, ...]] = []

    def record(excluded: tuple[str, ...]) -> Agreement:
        few.append(excluded)
        return Agreement(0.5, 0.5)

    keep_noisiest_in_fp32(["a", "b", "c"], record, target_for(GATE, 0.5))
    assert few == [("a",), ("a", "b"), ("a", "b", "c")]  # 4 and 8 would repeat the same set


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
    with pytest.raises(ValueError, match="alpha"):
        Int8Options(alpha=1.5)


def test_calibration_checks_the_output_the_gate_judges() -> None:
    from encoder_triton.export.precision.int8 import _judged

    logits, probabilities = np.array([[0.0, 3.0]]), np.array([[0.05, 0.95]])
    assert _judged({"LOGITS": logits, "PROBABILITIES": probabilities}) is probabilities
    assert _judged({"SCORE": probabilities[:, 1], "RAW_SCORE": logits[:, 1]}).shape == (1,)
    assert _judged({"other": logits}) is logits
