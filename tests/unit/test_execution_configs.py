"""Encoder configs per precision, engine and backend, rendered through Triton's schema."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.contract import Precision, Runner
from encoder_triton.contract.model_config import parse, render
from encoder_triton.export.precision.build import BuildOptions
from encoder_triton.export.precision.execution import ArtifactFormat, Backend, Device, EncoderExecution, Optimize
from encoder_triton.export.precision.optimize import optimizer_settings
from encoder_triton.export.repository import (
    EncoderSpec,
    ServingOptions,
    WarmupSample,
    repository_configs,
    write_repository,
)

SPEC = EncoderSpec(
    task=contract.Task.EMBED,
    dimension=384,
    max_length=256,
    pad_id=0,
    encoder_inputs=(contract.INPUT_IDS, contract.ATTENTION_MASK, contract.TOKEN_TYPE_IDS),
    source_model="all-MiniLM-L6-v2",
)
WARMUP = WarmupSample("a b c", {name: np.zeros(5, dtype=np.int64) for name in SPEC.encoder_inputs})
BUCKETS = (16, 32, 64, 128, 256)


def _configs(execution: EncoderExecution, options: ServingOptions | None = None) -> list:
    spec = replace(SPEC, execution=execution)
    return [parse(render(c)) for c in repository_configs("m", spec, options or ServingOptions(), WARMUP)]


def test_fp32_default_writes_no_precision_keys() -> None:
    ensemble, tokenizer, encoder = _configs(EncoderExecution())
    for config in (ensemble, tokenizer, encoder):
        assert contract.Param.PRECISION not in config.parameters
    assert contract.Param.LENGTH_BUCKETS not in tokenizer.parameters
    assert encoder.backend == "python" and encoder.instance_group[0].kind == encoder.instance_group[0].KIND_CPU


def test_int8_python_backend_says_its_precision_to_clients_and_runtime() -> None:
    ensemble, _, encoder = _configs(EncoderExecution(precision=Precision.INT8))
    assert ensemble.parameters[contract.Param.PRECISION].string_value == "int8"
    assert encoder.parameters[contract.Param.PRECISION].string_value == "int8"
    assert all(t.allow_ragged_batch for t in encoder.input)


def test_fp16_on_gpu_instances_names_its_providers() -> None:
    execution = EncoderExecution(precision=Precision.FP16, device=Device.GPU, gpu_providers=("tensorrt", "cuda"))
    _, _, encoder = _configs(execution)
    assert encoder.instance_group[0].kind == encoder.instance_group[0].KIND_GPU
    assert encoder.parameters[contract.Param.EXECUTION_PROVIDERS].string_value == "tensorrt,cuda"


def test_tensorrt_engine_in_the_python_backend() -> None:
    execution = EncoderExecution(file="model.plan", runner=Runner.TENSORRT, precision=Precision.FP16, device=Device.GPU)
    _, _, encoder = _configs(execution)
    assert encoder.backend == "python"
    assert encoder.parameters[contract.Param.ENCODER_FILE].string_value == "model.plan"
    assert encoder.parameters[contract.Param.RUNNER].string_value == "tensorrt"
    assert contract.Param.EXECUTION_PROVIDERS not in encoder.parameters


def test_native_onnxruntime_backend_pads_to_buckets_instead_of_ragged_batches() -> None:
    execution = EncoderExecution(precision=Precision.INT8, backend=Backend.NATIVE, length_buckets=BUCKETS)
    ensemble, tokenizer, encoder = _configs(execution, ServingOptions(instances=2))
    assert encoder.backend == "onnxruntime" and encoder.default_model_filename == "model.onnx"
    assert not any(t.allow_ragged_batch for t in encoder.input)
    assert encoder.instance_group[0].count == 2 and encoder.instance_group[0].kind == encoder.instance_group[0].KIND_CPU
    assert encoder.parameters["inter_op_thread_count"].string_value == "1"
    assert tokenizer.parameters[contract.Param.LENGTH_BUCKETS].string_value == "16,32,64,128,256"
    assert [w.batch_size for w in encoder.model_warmup] == [1, 8]
    assert ensemble.parameters[contract.Param.PRECISION].string_value == "int8"
    assert not encoder.HasField("optimization")


def test_native_onnxruntime_on_gpu_with_the_tensorrt_accelerator() -> None:
    execution = EncoderExecution(
        precision=Precision.FP16,
        backend=Backend.NATIVE,
        device=Device.GPU,
        gpu_providers=("tensorrt", "cuda"),
        length_buckets=BUCKETS,
    )
    _, _, encoder = _configs(execution)
    (accelerator,) = encoder.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP16"
    assert encoder.parameters["intra_op_thread_count"].string_value == "1"


def test_native_tensorrt_plan() -> None:
    execution = EncoderExecution(
        file="model.plan", runner=Runner.TENSORRT, backend=Backend.NATIVE, device=Device.GPU, length_buckets=BUCKETS
    )
    _, tokenizer, encoder = _configs(execution, ServingOptions(rate_limiter_resources=(("gpu", 1),)))
    assert encoder.platform == "tensorrt_plan" and not encoder.backend
    assert encoder.instance_group[0].rate_limiter.resources[0].name == "gpu"
    assert encoder.default_model_filename == "model.plan"
    assert encoder.instance_group[0].kind == encoder.instance_group[0].KIND_GPU
    from tritonclient.grpc import model_config_pb2

    assert [t.data_type for t in encoder.input] == [model_config_pb2.TYPE_INT64] * 3
    assert tokenizer.parameters[contract.Param.LENGTH_BUCKETS].string_value


def test_native_repositories_have_no_model_py_for_the_encoder(tmp_path: Path) -> None:
    tokenizer_dir, encoder_dir = tmp_path / "tok", tmp_path / "enc"
    tokenizer_dir.mkdir()
    encoder_dir.mkdir()
    (tokenizer_dir / "tokenizer.json").write_text("{}")
    (encoder_dir / "model.onnx").write_bytes(b"graph")
    spec = replace(SPEC, execution=EncoderExecution(backend=Backend.NATIVE, length_buckets=BUCKETS))
    repo = tmp_path / "repo"
    write_repository(repo, "m", spec, ServingOptions(), tokenizer_dir=tokenizer_dir, encoder_dir=encoder_dir)
    assert sorted(p.name for p in (tmp_path / "repo" / "m_encoder" / "1").iterdir()) == ["model.onnx"]
    assert (tmp_path / "repo" / "m_tokenizer" / "1" / "model.py").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runner": Runner.TENSORRT}, "runs on a GPU"),
        ({"gpu_providers": ("rocm",)}, "GPU providers"),
        ({"backend": Backend.NATIVE}, "length buckets"),
    ],
)
def test_execution_rejects_what_cannot_run(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EncoderExecution(**kwargs)


def test_engine_options_resolve_optimisation_and_device() -> None:
    assert BuildOptions().resolved_optimize() is Optimize.NONE
    assert BuildOptions(precision=Precision.INT8).resolved_optimize() is Optimize.FUSE
    assert BuildOptions(precision=Precision.INT8).resolved_device() is Device.CPU
    assert BuildOptions(precision=Precision.FP16).resolved_device() is Device.GPU
    trt = BuildOptions(precision=Precision.FP16, format=ArtifactFormat.TENSORRT)
    assert trt.resolved_optimize() is Optimize.NONE and trt.resolved_device() is Device.GPU
    assert BuildOptions(precision=Precision.INT8).gate_thresholds().mean_cosine == 0.99


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": ArtifactFormat.TENSORRT, "optimize": Optimize.FUSE}, "contrib ops"),
        ({"format": ArtifactFormat.TENSORRT, "device": Device.CPU}, "runs on a GPU"),
    ],
)
def test_engine_options_reject_impossible_combinations(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BuildOptions(**kwargs)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"model_type": "bert", "num_attention_heads": 12, "hidden_size": 384}, ("bert", 12, 384, True)),
        ({"model_type": "distilbert", "n_heads": 12, "dim": 768}, ("bert", 12, 768, True)),
        ({"model_type": "xlm-roberta", "num_attention_heads": 16, "hidden_size": 1024}, ("bert", 16, 1024, True)),
        ({"model_type": "t5", "num_heads": 8, "d_model": 512}, ("t5", 8, 512, True)),
        ({"model_type": "modernbert"}, ("bert", 0, 0, False)),
    ],
)
def test_optimizer_settings_from_config_json(config: dict, expected: tuple) -> None:
    settings = optimizer_settings(config)
    assert (settings.model_type, settings.num_heads, settings.hidden_size, settings.known) == expected
