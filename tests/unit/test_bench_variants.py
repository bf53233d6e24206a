"""Serving variants: config.pbtxt edited through Triton's schema, model files linked, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from encoder_triton import contract
from encoder_triton.bench.variants import ServerVariant, make_variant, read_serving_config
from encoder_triton.exporter.repository import EncoderSpec, ServingOptions, repository_configs
from encoder_triton.exporter.triton_config import parse, render


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository with the three configs an export writes, and stand-in version files."""
    spec = EncoderSpec(contract.Task.EMBED, 384, 256, 0, contract.ENCODER_INPUTS, "test")
    root = tmp_path / "repo"
    for config in repository_configs("m", spec, ServingOptions(instances=1, max_queue_delay_us=2000)):
        (root / config.name / "1").mkdir(parents=True)
        (root / config.name / "1" / "model.bin").write_text(config.name)
        (root / config.name / "config.pbtxt").write_text(render(config))
    (root / "other").mkdir()
    return root


def _config(repo: Path, name: str):  # noqa: ANN202 - a protobuf message
    return parse((repo / name / "config.pbtxt").read_text())


def test_variant_edits_the_encoder_and_tokenizer_configs_only(repo: Path, tmp_path: Path) -> None:
    before = {p: p.read_text() for p in repo.rglob("config.pbtxt")}
    variant = make_variant(repo, "m", ServerVariant(instances=3, max_queue_delay_us=500), tmp_path / "v")

    encoder, tokenizer = _config(variant, "m_encoder"), _config(variant, "m_tokenizer")
    assert encoder.instance_group[0].count == 3
    assert encoder.dynamic_batching.max_queue_delay_microseconds == 500
    assert tokenizer.instance_group[0].count == 1  # instances are the encoder's knob
    assert tokenizer.dynamic_batching.max_queue_delay_microseconds == 500
    assert encoder.parameters["max_batch_tokens"].string_value == "8192"  # the rest is kept

    assert (variant / "m").is_symlink() and (variant / "other").is_symlink()
    assert (variant / "m_encoder" / "1").is_symlink()
    assert (variant / "m_encoder" / "1" / "model.bin").read_text() == "m_encoder"
    assert {p: p.read_text() for p in repo.rglob("config.pbtxt")} == before  # the original is untouched


def test_none_keeps_the_exported_value(repo: Path, tmp_path: Path) -> None:
    variant = make_variant(repo, "m", ServerVariant(instances=2), tmp_path / "v")
    assert _config(variant, "m_encoder").dynamic_batching.max_queue_delay_microseconds == 2000
    assert read_serving_config(variant, "m")["instances"] == 2
    assert read_serving_config(repo, "m") == {
        "max_batch_size": 64,
        "instances": 1,
        "tokenizer_instances": 1,
        "max_queue_delay_us": 2000,
        "parameters": {
            "encoder_file": "model.onnx",
            "encoder_triton.max_length": "256",
            "max_batch_tokens": "8192",
            "pad_id": "0",
        },
    }


def test_labels_and_validation(repo: Path, tmp_path: Path) -> None:
    assert ServerVariant().label == "as exported" and ServerVariant().is_default
    assert ServerVariant(2, 0).label == "instances=2 delay=0us"
    with pytest.raises(ValueError, match="instances must be >= 1"):
        ServerVariant(instances=0)
    with pytest.raises(FileNotFoundError, match="is 'nope' exported"):
        make_variant(repo, "nope", ServerVariant(instances=2), tmp_path / "v")


def test_thread_and_spinning_knobs_are_encoder_parameters(repo: Path, tmp_path: Path) -> None:
    variant = ServerVariant(intra_op_threads=1, spinning=True)
    assert variant.label == "threads=1 spinning=on" and not variant.is_default
    target = make_variant(repo, "m", variant, tmp_path / "v")
    encoder, tokenizer = _config(target, "m_encoder"), _config(target, "m_tokenizer")
    assert encoder.parameters[contract.Param.INTRA_OP_THREADS].string_value == "1"
    assert encoder.parameters[contract.Param.INTRA_OP_SPINNING].string_value == "true"
    assert contract.Param.INTRA_OP_THREADS not in tokenizer.parameters
