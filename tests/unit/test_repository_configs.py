"""config.pbtxt files are rendered through Triton's schema and pinned by golden files.

Regenerate after an intended change with: UPDATE_GOLDEN=1 make test PYTEST_ARGS=tests/unit
"""

import os
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format

from encoder_triton import contract
from encoder_triton.contract.model_config import ModelConfig, Tensor, parse, render
from encoder_triton.export.repository import EncoderSpec, ServingOptions, WarmupSample, repository_configs

GOLDEN = Path(__file__).parent / "golden"
SPEC = EncoderSpec(
    task=contract.Task.EMBED,
    dimension=384,
    max_length=256,
    pad_id=0,
    encoder_inputs=(contract.INPUT_IDS, contract.ATTENTION_MASK, contract.TOKEN_TYPE_IDS),
    source_model="sentence-transformers/all-MiniLM-L6-v2",
    normalized=True,
)
WARMUP = WarmupSample("a b c", {name: np.zeros(5, dtype=np.int64) for name in SPEC.encoder_inputs})
OPERATED = ServingOptions(
    response_cache=True,
    max_queue_size=32,
    queue_timeout_us=500_000,
    preferred_batch_sizes=(8, 16),
    rate_limiter_resources=(("cpu", 2),),
)


@pytest.mark.parametrize("index", [0, 1, 2], ids=["ensemble", "tokenizer", "encoder"])
def test_configs_match_golden_files(index: int) -> None:
    config = repository_configs("minilm", SPEC, OPERATED, WARMUP)[index]
    text = render(config)
    golden = GOLDEN / f"{config.name}.pbtxt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_rendered_configs_parse_back_to_the_same_data() -> None:
    for config in repository_configs("minilm", SPEC, ServingOptions(instances=2, max_queue_delay_us=500)):
        parsed = json_format.MessageToDict(parse(render(config)), preserving_proto_field_name=True)
        assert parsed["name"] == config.name
        assert int(parsed["max_batch_size"]) == 64


def test_encoder_inputs_are_ragged_so_different_lengths_batch_together() -> None:
    encoder = parse(render(repository_configs("minilm", SPEC, ServingOptions())[2]))
    assert all(tensor.allow_ragged_batch for tensor in encoder.input)
    assert encoder.dynamic_batching.max_queue_delay_microseconds == 2000


def test_ensemble_wires_every_tokenizer_output_into_the_encoder_and_token_counts_out() -> None:
    ensemble = parse(render(repository_configs("minilm", SPEC, ServingOptions())[0]))
    tokenizer_step, encoder_step = ensemble.ensemble_scheduling.step
    token_tensors = set(tokenizer_step.output_map.values()) - {contract.TOKEN_COUNT, contract.TRUNCATED}
    assert token_tensors == set(encoder_step.input_map.values())
    assert contract.CHUNKS in token_tensors  # long texts' windows reach the encoder step
    # Usage: the tokenizer's per-row token counts and truncations leave the ensemble untouched
    # by the encoder.
    assert {contract.TOKEN_COUNT, contract.TRUNCATED} <= set(tokenizer_step.output_map.values())
    assert [o.name for o in ensemble.output] == [contract.EMBEDDING, contract.TOKEN_COUNT, contract.TRUNCATED]
    assert ensemble.parameters[contract.Param.TASK].string_value == "embed"
    assert ensemble.parameters[contract.Param.DIMENSION].string_value == "384"


def test_text_is_rendered_as_triton_string_type() -> None:
    text = render(ModelConfig(name="m", max_batch_size=1, inputs=(Tensor("T", "BYTES", (1,)),), outputs=()))
    assert "TYPE_STRING" in text


def test_the_schema_rejects_what_triton_would_reject() -> None:
    bad = ModelConfig(name="m", max_batch_size=1, inputs=(Tensor("T", "NOT_A_TYPE", (1,)),), outputs=())
    with pytest.raises(json_format.ParseError):
        render(bad)


def test_operations_options_render_where_triton_reads_them() -> None:
    ensemble, tokenizer, encoder = (parse(render(c)) for c in repository_configs("minilm", SPEC, OPERATED, WARMUP))
    assert ensemble.response_cache.enable
    policy = encoder.dynamic_batching.default_queue_policy
    assert policy.max_queue_size == 32 and policy.default_timeout_microseconds == 500_000
    assert list(encoder.dynamic_batching.preferred_batch_size) == [8, 16]
    assert encoder.instance_group[0].rate_limiter.resources[0].count == 2
    assert [w.batch_size for w in encoder.model_warmup] == [1, 8]
    assert list(encoder.model_warmup[0].inputs["input_ids"].dims) == [5]
    assert tokenizer.model_warmup[0].inputs["TEXT"].input_data_file == "text"


def test_no_warmup_without_a_sample_or_when_off() -> None:
    assert not repository_configs("m", SPEC, ServingOptions())[2].warmups
    assert not repository_configs("m", SPEC, ServingOptions(warmup=False), WARMUP)[2].warmups


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_queue_size": 0}, "max_queue_size"),
        ({"queue_timeout_us": 0}, "queue_timeout_us"),
        ({"preferred_batch_sizes": (128,)}, "preferred batch sizes"),
        ({"rate_limiter_resources": (("cpu", 0),)}, "rate limiter"),
        ({"max_chars": 0}, "max_chars"),
    ],
)
def test_operations_options_reject_nonsense(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServingOptions(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["max_batch_size", "instances", "max_batch_tokens"])
def test_serving_options_reject_nonsense(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ServingOptions(**{field: 0})
