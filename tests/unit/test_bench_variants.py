"""Serving variants: config.pbtxt edited through Triton's schema, model files linked, never copied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.bench.variants import ServerVariant, apply_variant, make_variant, read_serving_config
from encoder_triton.contract.model_config import parse, render
from encoder_triton.export.repository import EncoderSpec, ServingOptions, WarmupSample, repository_configs


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
            "batching": "token_budget",
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


WARMUP = WarmupSample("a b c", {name: np.zeros(5, dtype=np.int64) for name in contract.ENCODER_INPUTS})


def test_max_batch_size_changes_all_three_and_drops_what_no_longer_fits(tmp_path: Path) -> None:
    spec = EncoderSpec(contract.Task.EMBED, 384, 256, 0, contract.ENCODER_INPUTS, "test")
    options = ServingOptions(max_batch_size=64, preferred_batch_sizes=(4, 32))
    root = tmp_path / "repo"
    for config in repository_configs("m", spec, options, WARMUP):
        (root / config.name).mkdir(parents=True)
        (root / config.name / "config.pbtxt").write_text(render(config))
    target = make_variant(root, "m", ServerVariant(max_batch_size=4), tmp_path / "v")
    for name in ("m", "m_tokenizer", "m_encoder"):
        config = _config(target, name)
        assert config.max_batch_size == 4
        assert all(w.batch_size <= 4 for w in config.model_warmup)
    encoder = _config(target, "m_encoder")
    assert list(encoder.dynamic_batching.preferred_batch_size) == [4]
    assert len(encoder.model_warmup) == 1  # batch 1 kept, batch 8 dropped
    assert not (target / "m").is_symlink()


def test_budget_batching_and_tokenizer_instances(repo: Path, tmp_path: Path) -> None:
    variant = ServerVariant(tokenizer_instances=2, max_batch_tokens=2048, batching="pad_to_longest")
    assert variant.label == "tokenizers=2 budget=2048 batching=pad_to_longest"
    target = make_variant(repo, "m", variant, tmp_path / "v")
    encoder, tokenizer = _config(target, "m_encoder"), _config(target, "m_tokenizer")
    assert tokenizer.instance_group[0].count == 2 and encoder.instance_group[0].count == 1
    assert encoder.parameters["max_batch_tokens"].string_value == "2048"
    assert encoder.parameters["batching"].string_value == "pad_to_longest"
    assert (target / "m").is_symlink()  # the ensemble changes only with max_batch_size
    with pytest.raises(ValueError, match="pad_to_shortest"):
        ServerVariant(batching="pad_to_shortest")


def test_apply_variant_edits_in_place_and_keeps_the_previous_configs(repo: Path) -> None:
    before = (repo / "m_encoder" / "config.pbtxt").read_text()
    written = apply_variant(repo, "m", ServerVariant(instances=2, max_batch_size=32), backup_suffix=".before-tune-1")
    assert sorted(p.parent.name for p in written) == ["m", "m_encoder", "m_tokenizer"]
    assert _config(repo, "m_encoder").instance_group[0].count == 2
    assert _config(repo, "m").max_batch_size == 32
    assert (repo / "m_encoder" / "config.pbtxt.before-tune-1").read_text() == before
    with pytest.raises(FileExistsError, match="before-tune-1"):
        apply_variant(repo, "m", ServerVariant(instances=1), backup_suffix=".before-tune-1")
