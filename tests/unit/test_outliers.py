"""Outlier channels before int8: which are balanced or split, and a rewrite that leaves the fp32 result unchanged."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from encoder_triton.export.precision.channel_plan import (
    ChannelPlan,
    activation_stats,
    balancing_factors,
    outlier_channels,
    plan_channels,
    plan_model,
)
from encoder_triton.export.precision.outliers import split_outlier_channels
from encoder_triton.runtime.tokenization import TokenBatch

HIDDEN, FFN, VOCAB = 8, 16, 12


def test_outlier_channels_are_the_few_far_above_the_median() -> None:
    absmax = np.array([1.0, 1.1, 0.9, 28.0, 1.2, 20.0, 1.0, 1.05])
    assert outlier_channels(absmax) == (3, 5)
    assert outlier_channels(absmax, max_channels=1) == ()  # 28 -> 20: not worth a split
    assert outlier_channels(np.full(8, 2.0)) == ()
    assert outlier_channels(np.array([1.0, 1.0, 2.5, 1.0])) == ()  # 2.5x the median is ordinary


def test_normalisation_outputs_are_balanced_activation_spikes_split() -> None:
    absmax = np.array([1.0, 1.0, 30.0, 1.0, 20.0, 1.0, 1.0, 1.0])
    weight_absmax = np.full(8, 0.5)
    balanced = plan_channels(absmax, weight_absmax, activation_fed=False, alpha=0.75)
    expected = absmax**0.75 / 0.5**0.25
    np.testing.assert_allclose(balanced.factors, expected)
    assert not balanced.split and balanced.range_before == 30
    assert balanced.range_after == pytest.approx(float(np.max(absmax / expected)))  # 30 -> 2.3
    split = plan_channels(absmax, weight_absmax, activation_fed=True)
    assert split.split == (2, 4) and split.factors == () and split.range_after == 1.0
    assert (
        split.noise_to_signal
        < plan_channels(absmax, weight_absmax, activation_fed=True, splitting=False).noise_to_signal
    )
    assert not plan_channels(np.ones(8), np.ones(8), activation_fed=True)  # nothing stands out


def test_balancing_moves_range_into_the_weights_within_bounds() -> None:
    factors = balancing_factors(np.array([16.0, 1.0, 0.0]), np.array([1.0, 4.0, 1.0]), alpha=0.5)
    np.testing.assert_allclose(factors[:2], [4.0, 0.5])
    assert factors[2] >= 1e-3  # a dead channel does not blow its weight row up
    assert plan_channels(np.array([4.0, 1.0]), np.ones(2), activation_fed=False, alpha=0.0).factors == ()


def test_a_fused_attention_s_spiky_input_is_left_alone() -> None:
    absmax = np.array([1.0, 1.0, 10.0, 1.0, 4.0, 1.0, 1.0, 1.0])
    assert not plan_channels(absmax, np.ones(8), activation_fed=True, splitting=False)
    assert plan_channels(absmax, np.ones(8), activation_fed=False, splitting=False).factors  # balancing needs no split


def _encoder_block() -> onnx.ModelProto:
    """Embedding -> LayerNorm -> MatMul -> BiasGelu -> MatMul -> bias Add -> residual Sum -> LayerNorm."""
    rng = np.random.default_rng(0)
    gamma = np.ones(HIDDEN, np.float32)
    gamma[2] = 20.0  # a LayerNorm channel large for every token
    consts = {
        "embedding": rng.standard_normal((VOCAB, HIDDEN)),
        "gamma": gamma,
        "beta": np.zeros(HIDDEN),
        "w_up": rng.standard_normal((HIDDEN, FFN)) * 0.3,
        "b_up": rng.standard_normal(FFN) * 0.1,
        "w_down": rng.standard_normal((FFN, HIDDEN)) * 0.3,
        "b_down": rng.standard_normal(HIDDEN) * 0.1,
        "w_head": rng.standard_normal((HIDDEN, HIDDEN)),
    }
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["emb"], name="embed"),
        helper.make_node("LayerNormalization", ["emb", "gamma", "beta"], ["h"], name="ln", axis=-1),
        helper.make_node("MatMul", ["h", "w_up"], ["u"], name="up"),
        helper.make_node("BiasGelu", ["u", "b_up"], ["g"], name="gelu", domain="com.microsoft"),
        helper.make_node("MatMul", ["g", "w_down"], ["d"], name="down"),
        helper.make_node("Add", ["d", "b_down"], ["db"], name="down_bias"),
        helper.make_node("Sum", ["db", "h"], ["r"], name="residual"),
        helper.make_node("LayerNormalization", ["r", "gamma", "beta"], ["o"], name="ln2", axis=-1),
        helper.make_node("MatMul", ["o", "w_head"], ["y"], name="head"),  # neither GELU-fed nor into a Sum
    ]
    graph = helper.make_graph(
        nodes,
        "block",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])],
        initializer=[numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in consts.items()],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )


def _tokens() -> TokenBatch:
    ids = np.array([[1, 2, 3, 4, 5], [6, 7, 0, 0, 0], [8, 9, 10, 11, 0]], dtype=np.int64)
    return TokenBatch(input_ids=ids, attention_mask=(ids > 0).astype(np.int64))


def _run(model: onnx.ModelProto, tokens: TokenBatch) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"input_ids": tokens.input_ids, "attention_mask": tokens.attention_mask})[0]


def test_activation_stats_leave_padding_out() -> None:
    model, tokens = _encoder_block(), _tokens()
    seen: list[tuple[int, int]] = []
    stats = activation_stats(model, ["emb"], tokens, rows_per_run=2, progress=lambda *step: seen.append(step))
    embedding = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "embedding"))
    real = embedding[tokens.input_ids[tokens.attention_mask.astype(bool)]]  # token 0 (padding) left out
    np.testing.assert_allclose(stats["emb"].absmax, np.abs(real).max(0), rtol=1e-6)
    np.testing.assert_allclose(stats["emb"].mean_abs, np.abs(real).mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["emb"].mean_square, (real * real).mean(0), rtol=1e-5)
    assert seen == [(1, 2), (2, 2)]


def test_the_layer_norm_output_is_balanced_the_gelu_output_split() -> None:
    plans = plan_model(_encoder_block(), _tokens())
    up = plans["up"]
    assert not up.split and int(np.argmax(up.factors)) == 2  # the gain-20 channel moves most
    assert up.range_after < up.range_before / 2
    assert not plans["down"].factors  # a GELU output is never balanced
    assert plans["head"].factors  # LayerNorm-fed: balanced


def test_scaling_and_splitting_leave_the_fp32_result_unchanged() -> None:
    model, tokens = _encoder_block(), _tokens()
    expected = _run(model, tokens)
    up_factors = tuple(8.0 if c == 2 else 0.5 for c in range(HIDDEN))
    head_factors = tuple(3.0 if c == 5 else 1.0 for c in range(HIDDEN))
    plans = {
        "up": ChannelPlan(split=(), factors=up_factors, range_before=20, range_after=2.5),
        "down": ChannelPlan(split=(3, 11), factors=(), range_before=9, range_after=2),
        "head": ChannelPlan(split=(1,), factors=head_factors, range_before=9, range_after=2),
    }
    fp32 = split_outlier_channels(model, plans)
    np.testing.assert_allclose(_run(model, tokens), expected, rtol=1e-4, atol=1e-4)
    assert fp32 == {
        "down": ("down/outliers/up_MatMul", "down/outliers/MatMul"),  # recomputed from the GELU's source
        "head": ("head/outliers/MatMul",),  # gathered from its input
    }
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("BiasGelu") == 2 and ops.count("Gather") == 2  # embedding + head's outlier
    residual = next(n for n in model.graph.node if n.name == "residual")
    assert list(residual.input) == ["db", "h", "down/outliers/MatMul_output_0"]  # joined without an Add
    assert any(n.name == "head/outliers/Add" for n in model.graph.node)
    # The GELU channels are zero at their source: the up weight's columns and the bias.
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    up = next(n for n in model.graph.node if n.name == "up")
    gelu = next(n for n in model.graph.node if n.name == "gelu")
    assert not weights[up.input[1]][:, [3, 11]].any() and not weights[gelu.input[1]][[3, 11]].any()
    assert "w_up" not in weights  # replaced by its scaled copy, not kept beside it


def test_the_quantiser_leaves_the_fp32_part_alone(tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model, tokens = _encoder_block(), _tokens()
    expected = _run(model, tokens)
    fp32 = split_outlier_channels(model, {node: plan for node, plan in plan_model(model, tokens).items() if plan})
    src, dst = tmp_path / "split.onnx", tmp_path / "int8.onnx"
    onnx.save(model, src)
    keep = [name for names in fp32.values() for name in names]
    quantize_dynamic(
        src,
        dst,
        per_channel=True,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=keep,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True},
    )
    quantised = onnx.load(dst)
    assert {n.name for n in quantised.graph.node if n.op_type == "MatMul"} == set(keep)
    got = _run(quantised, tokens)
    cosine = np.sum(got * expected, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(expected, axis=-1)
    assert cosine.min() > 0.99


@pytest.mark.parametrize("bad", [np.array([np.nan, 1.0]), np.array([5.0])])
def test_no_channels_from_degenerate_ranges(bad: np.ndarray) -> None:
    assert outlier_channels(bad) == ()


def test_a_tensor_with_one_row_per_text_is_not_per_token() -> None:
    model, tokens = _encoder_block(), _tokens()
    model.graph.node.append(helper.make_node("ReduceMean", ["o"], ["pooled"], name="pool", axes=[1], keepdims=0))
    stats = activation_stats(model, ["o", "pooled"], tokens)
    assert stats["o"].per_token and not stats["pooled"].per_token
