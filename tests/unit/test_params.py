"""Typed component parameters: one codec between the dataclasses and config.pbtxt's strings."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from encoder_triton import contract
from encoder_triton.contract import Activation, Batching, LongInputs, Precision, Runner, Task
from encoder_triton.contract.model_config import parse_file
from encoder_triton.contract.params import (
    DEFAULT_BATCHING,
    DEFAULT_LONG_INPUTS,
    DEFAULT_MAX_BATCH_TOKENS,
    DEFAULT_MAX_CHARS,
    DEFAULT_TRUNCATION,
    ComponentParams,
    EncoderParams,
    EnsembleParams,
    TokenizerParams,
)
from encoder_triton.export.repository import ServingOptions
from encoder_triton.export.repository.options import ENCODER_KNOBS

GOLDEN = Path(__file__).parent / "golden"

#: One instance of each class with every field away from its default.
FULL = [
    TokenizerParams(
        max_length=128,
        pad_id=1,
        tokenizer_file="tok.json",
        truncation=False,
        max_chars=500,
        length_buckets=(16, 64, 128),
        long_inputs=LongInputs.CHUNK,
        chunk_overlap=16,
    ),
    EncoderParams(
        max_length=128,
        pad_id=1,
        encoder_file="model.plan",
        max_batch_tokens=2048,
        batching=Batching.PAD_TO_LONGEST,
        precision=Precision.FP16,
        runner=Runner.TENSORRT,
        execution_providers=("tensorrt", "cuda"),
        cuda_attention_kernels="auto",
        intra_op_threads=0,
        intra_op_spinning=True,
        normalized=True,
        activation=Activation.SOFTMAX,
        special_token_ids=(0, 1, 2, 3),
    ),
    EnsembleParams(
        task=Task.CLASSIFY,
        dimension=2,
        normalized=False,
        labels=("négatif", "positif"),
        activation=Activation.SIGMOID,
        max_length=128,
        truncation=False,
        max_chars=500,
        source_model="org/model",
        precision=Precision.INT8,
        long_inputs=LongInputs.TRUNCATE_LEFT,
    ),
]


@pytest.mark.parametrize("params", FULL, ids=lambda p: type(p).__name__)
def test_every_field_round_trips_through_its_string(params: ComponentParams) -> None:
    parameters = params.to_parameters()
    assert all(isinstance(v, str) for v in parameters.values())
    assert len(parameters) == len(fields(params))  # type: ignore[arg-type]  # nothing left at its default
    assert type(params).from_parameters(parameters) == params


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.pbtxt")), ids=lambda p: p.stem)
def test_golden_configs_read_and_write_back_the_same_parameters(golden: Path) -> None:
    config = parse_file(golden)
    kind = EnsembleParams if config.platform == "ensemble" else TokenizerParams
    if config.name.endswith(contract.ENCODER_SUFFIX):
        kind = EncoderParams
    assert kind.from_parameters(config.parameters).to_parameters() == config.parameters


def test_defaults_are_the_documented_ones_and_serving_options_share_them() -> None:
    encoder = EncoderParams(max_length=8)
    assert encoder.max_batch_tokens == DEFAULT_MAX_BATCH_TOKENS == 8192
    assert encoder.batching is DEFAULT_BATCHING is Batching.TOKEN_BUDGET
    assert (encoder.precision, encoder.runner, encoder.intra_op_spinning) == (Precision.FP32, Runner.ONNXRUNTIME, False)
    assert TokenizerParams(max_length=8).truncation is DEFAULT_TRUNCATION is True
    options = ServingOptions()
    assert (options.max_batch_tokens, options.batching) == (DEFAULT_MAX_BATCH_TOKENS, DEFAULT_BATCHING)
    assert (options.max_chars, options.long_inputs) == (DEFAULT_MAX_CHARS, DEFAULT_LONG_INPUTS)
    assert TokenizerParams(max_length=8).long_input_policy is DEFAULT_LONG_INPUTS is LongInputs.TRUNCATE


def test_the_serving_options_the_encoder_reads_are_its_params_fields_with_the_same_defaults() -> None:
    options, params = ServingOptions(), EncoderParams(max_length=8)
    names = {f.name for f in fields(EncoderParams)}
    for name in ENCODER_KNOBS:
        assert name in names and getattr(options, name) == getattr(params, name)


def test_enum_fields_take_their_values_too() -> None:
    params = EncoderParams(max_length=8, batching="pad_to_longest")  # type: ignore[arg-type]
    assert params.batching is Batching.PAD_TO_LONGEST
    with pytest.raises(ValueError, match="config parameter 'batching': 'fastest' is not one of"):
        EncoderParams(max_length=8, batching="fastest")  # type: ignore[arg-type]


def test_a_config_without_optional_keys_reads_as_the_defaults() -> None:
    tokenizer = TokenizerParams.from_parameters({contract.Param.MAX_LENGTH: "256"})
    assert tokenizer == TokenizerParams(max_length=256)
    assert tokenizer.max_chars is None and tokenizer.length_buckets == ()  # no limit, pad per batch
    encoder = EncoderParams.from_parameters({contract.Param.MAX_LENGTH: "256", "some_other_key": "x"})
    assert encoder == EncoderParams(max_length=256)
    assert EnsembleParams.from_parameters({}) == EnsembleParams()  # a model not written by us


def test_keys_off_their_default_are_written_only_when_they_differ() -> None:
    written = EncoderParams(max_length=8).to_parameters()
    for key in (contract.Param.PRECISION, contract.Param.RUNNER, contract.Param.INTRA_OP_SPINNING):
        assert key not in written
    assert written[contract.Param.MAX_BATCH_TOKENS] == "8192"
    assert written[contract.Param.BATCHING] == "token_budget"
    assert contract.Param.LENGTH_BUCKETS not in TokenizerParams(max_length=8).to_parameters()
    int8 = EncoderParams(max_length=8, precision=Precision.INT8).to_parameters()
    assert int8[contract.Param.PRECISION] == "int8"


def test_empty_strings_read_as_absent() -> None:
    tokenizer = TokenizerParams.from_parameters({contract.Param.MAX_LENGTH: "16", contract.Param.MAX_CHARS: ""})
    assert tokenizer.max_chars is None
    with pytest.raises(ValueError, match="'encoder_triton.max_length' is missing"):
        TokenizerParams.from_parameters({contract.Param.MAX_LENGTH: ""})


def test_the_runner_is_read_under_its_old_key_engine() -> None:
    old = {contract.Param.MAX_LENGTH: "16", "engine": "tensorrt", "encoder_file": "model.plan"}
    params = EncoderParams.from_parameters(old)
    assert params.runner is Runner.TENSORRT
    assert "engine" in EncoderParams.keys()
    # Written back (a tuned variant of an old export), the key takes its new name.
    rewritten = params.merged({**old, "foreign": "kept"})
    assert rewritten[contract.Param.RUNNER] == "tensorrt" and "engine" not in rewritten
    assert rewritten["foreign"] == "kept"
    # The new key wins over the old one.
    both = EncoderParams.from_parameters({**old, contract.Param.RUNNER: "onnxruntime"})
    assert both.runner is Runner.ONNXRUNTIME


def test_merged_replaces_only_the_keys_the_class_owns() -> None:
    native_keys = {"intra_op_thread_count": "2", contract.Param.MAX_BATCH_TOKENS: "8192"}
    merged = EncoderParams(max_length=8, max_batch_tokens=1024).merged(native_keys)
    assert merged["intra_op_thread_count"] == "2"
    assert merged[contract.Param.MAX_BATCH_TOKENS] == "1024"


@pytest.mark.parametrize(
    ("kind", "key", "text", "message"),
    [
        (EncoderParams, contract.Param.MAX_BATCH_TOKENS, "lots", "is not an integer"),
        (EncoderParams, contract.Param.MAX_BATCH_TOKENS, "0", "must be >= 1"),
        (EncoderParams, contract.Param.BATCHING, "pad_to_shortest", "one of token_budget, pad_to_longest"),
        (EncoderParams, contract.Param.RUNNER, "openvino", "one of onnxruntime, tensorrt"),
        (EncoderParams, "engine", "openvino", "one of onnxruntime, tensorrt"),
        (EncoderParams, contract.Param.INTRA_OP_SPINNING, "yes", '"true" or "false"'),
        (EncoderParams, contract.Param.INTRA_OP_THREADS, "-1", "must be >= 0"),
        (EncoderParams, contract.Param.EXECUTION_PROVIDERS, "rocm", "among tensorrt, cuda"),
        (TokenizerParams, contract.Param.LENGTH_BUCKETS, "16,0", "positive integers"),
        (TokenizerParams, contract.Param.TRUNCATION, "maybe", '"true" or "false"'),
        (EnsembleParams, contract.Param.TASK, "translate", "one of embed, classify, rerank"),
        (EnsembleParams, contract.Param.LABELS, '{"a": 1}', "a JSON list of strings"),
        (EnsembleParams, contract.Param.LABELS, "[not json", "a JSON list of strings"),
        (EnsembleParams, contract.Param.DIMENSION, "0", "must be >= 1"),
    ],
)
def test_bad_values_raise_a_value_error_naming_the_key(
    kind: type[ComponentParams], key: str, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"config parameter '{key}'") as caught:
        kind.from_parameters({contract.Param.MAX_LENGTH: "16", key: text})
    assert message in str(caught.value)


@pytest.mark.parametrize("kind", [TokenizerParams, EncoderParams])
def test_a_step_without_its_max_length_is_refused(kind: type[ComponentParams]) -> None:
    with pytest.raises(ValueError, match="config parameter 'encoder_triton.max_length' is missing"):
        kind.from_parameters({contract.Param.PAD_ID: "0"})
