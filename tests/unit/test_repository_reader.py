"""An exported repository read back: the options and parameters it was written with."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.contract import Batching, LongInputs, Precision
from encoder_triton.contract.params import EncoderParams, EnsembleParams, TokenizerParams
from encoder_triton.export.precision.execution import Backend, EncoderExecution
from encoder_triton.export.repository import EncoderSpec, ServingOptions, WarmupSample, read_model, write_repository
from encoder_triton.runtime.steps import ModelArgs

SPEC = EncoderSpec(contract.Task.EMBED, 384, 256, 0, contract.ENCODER_INPUTS, "org/minilm", normalized=True)
WARMUP = WarmupSample("a b c", {name: np.zeros(5, dtype=np.int64) for name in SPEC.encoder_inputs})


def _export(tmp_path: Path, spec: EncoderSpec, options: ServingOptions) -> Path:
    tokenizer_dir, encoder_dir = tmp_path / "t", tmp_path / "e"
    tokenizer_dir.mkdir()
    encoder_dir.mkdir()
    repo = tmp_path / "repo"
    write_repository(repo, "m", spec, options, tokenizer_dir=tokenizer_dir, encoder_dir=encoder_dir, warmup=WARMUP)
    return repo


@pytest.mark.parametrize(
    "options",
    [
        ServingOptions(),
        ServingOptions(
            max_batch_size=32,
            instances=2,
            tokenizer_instances=3,
            max_queue_delay_us=0,
            max_batch_tokens=1024,
            batching=Batching.PAD_TO_LONGEST,
            preferred_batch_sizes=(4, 16),
            max_queue_size=8,
            queue_timeout_us=250_000,
            response_cache=True,
            warmup=False,
            rate_limiter_resources=(("cpu", 2),),
            max_chars=None,
            long_inputs=LongInputs.ERROR,
            chunk_overlap=16,
        ),
    ],
    ids=["defaults", "every-knob"],
)
def test_serving_options_read_back_as_written(tmp_path: Path, options: ServingOptions) -> None:
    assert read_model(_export(tmp_path, SPEC, options), "m").options == options


def test_typed_parameters_of_each_model(tmp_path: Path) -> None:
    spec = replace(SPEC, execution=EncoderExecution(precision=Precision.INT8))
    model = read_model(_export(tmp_path, spec, ServingOptions(max_chars=2000)), "m")
    assert model.name == "m" and not model.native
    assert model.ensemble_params == EnsembleParams(
        task=contract.Task.EMBED,
        dimension=384,
        normalized=True,
        max_length=256,
        max_chars=2000,
        source_model="org/minilm",
        precision=Precision.INT8,
    )
    assert model.tokenizer_params == TokenizerParams(max_length=256, max_chars=2000)
    # The encoder pools a long text's windows back into a unit vector, as the model does.
    assert model.encoder_params == EncoderParams(max_length=256, precision=Precision.INT8, normalized=True)
    assert model.version_dir(model.encoder) == model.repo / "m_encoder" / "1"


def test_a_native_encoder_has_no_parameters_of_ours(tmp_path: Path) -> None:
    spec = replace(SPEC, execution=EncoderExecution(backend=Backend.NATIVE, length_buckets=(16, 256)))
    model = read_model(_export(tmp_path, spec, ServingOptions(instances=2)), "m")
    assert model.native and model.encoder_params is None
    assert model.tokenizer_params.length_buckets == (16, 256)
    assert model.options.instances == 2


def test_a_missing_model_says_what_to_check(tmp_path: Path) -> None:
    repo = _export(tmp_path, SPEC, ServingOptions())
    with pytest.raises(FileNotFoundError, match="is 'other' exported in"):
        read_model(repo, "other")


def test_strict_reading_refuses_hand_edits_it_cannot_keep(tmp_path: Path) -> None:
    repo = _export(tmp_path, SPEC, ServingOptions())
    config = repo / "m_encoder" / "config.pbtxt"
    config.write_text(config.read_text() + "version_policy { all { } }\n")
    assert read_model(repo, "m").encoder.name == "m_encoder"
    with pytest.raises(ValueError, match="version_policy"):
        read_model(repo, "m", strict=True)


def test_the_runtime_names_the_model_and_key_of_a_bad_parameter(tmp_path: Path) -> None:
    repo = _export(tmp_path, SPEC, ServingOptions())
    config = repo / "m_encoder" / "config.pbtxt"
    config.write_text(config.read_text().replace('"token_budget"', '"fastest"'))
    args = ModelArgs.from_directory(repo / "m_encoder")
    with pytest.raises(ValueError, match="config.pbtxt of m_encoder: config parameter 'batching'"):
        args.params(EncoderParams)
