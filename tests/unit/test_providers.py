"""Execution providers and threads per Triton instance kind."""

from pathlib import Path

import pytest

from encoder_triton.runtime.providers import (
    CUDA_ATTENTION_KERNELS,
    ProviderUnavailableError,
    available_cores,
    intra_op_threads,
    parse_preference,
    select_providers,
)
from encoder_triton.runtime.shape_buckets import optimization_profiles

ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cpu_instances_run_the_cpu_provider_whatever_is_installed() -> None:
    assert select_providers("CPU", preference=("tensorrt",), available=ALL) == [("CPUExecutionProvider", {})]


def test_gpu_instances_get_their_device_and_the_cpu_behind() -> None:
    providers = select_providers("GPU", device_id=3, preference=("cuda",), available=ALL)
    assert providers == [
        ("CUDAExecutionProvider", {"device_id": "3", "sdpa_kernel": CUDA_ATTENTION_KERNELS}),
        ("CPUExecutionProvider", {}),
    ]


def test_cuda_attention_kernels_skip_cudnn_unless_asked_and_only_where_onnxruntime_knows_the_option() -> None:
    assert int(CUDA_ATTENTION_KERNELS) & 8 == 0  # cuDNN flash attention: a graph build per new shape
    (cuda, options), _ = select_providers("GPU", preference=("cuda",), available=ALL, attention_kernels="auto")
    assert "sdpa_kernel" not in options
    (cuda, options), _ = select_providers("GPU", preference=("cuda",), available=ALL, onnxruntime_version="1.18.1")
    assert "sdpa_kernel" not in options
    (cuda, options), _ = select_providers("GPU", preference=("cuda",), available=ALL, attention_kernels="2")
    assert options["sdpa_kernel"] == "2"


def test_tensorrt_provider_gets_precision_cache_and_one_profile_per_bucket(tmp_path: Path) -> None:
    profiles = optimization_profiles(8, (16, 32))
    providers = select_providers(
        "GPU",
        preference=("tensorrt", "cuda"),
        available=ALL,
        fp16=True,
        tensorrt_cache_dir=tmp_path,
        profiles=profiles,
        input_names=["input_ids", "attention_mask"],
    )
    (trt, options), cuda, cpu = providers
    assert trt == "TensorrtExecutionProvider" and cuda[0] == "CUDAExecutionProvider"
    assert options["trt_fp16_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(tmp_path)
    assert options["trt_profile_min_shapes"] == ("input_ids:1x1,attention_mask:1x1,input_ids:1x17,attention_mask:1x17")
    assert options["trt_profile_max_shapes"].endswith("attention_mask:8x32")


def test_missing_gpu_providers_fail_loudly_with_the_fix() -> None:
    with pytest.raises(ProviderUnavailableError, match="install onnxruntime-gpu"):
        select_providers("GPU", preference=("cuda",), available=["CPUExecutionProvider"])
    # A preferred provider that is missing is skipped when another one is there.
    only_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers("GPU", preference=("tensorrt", "cuda"), available=only_cuda)[0][0] == only_cuda[0]


def test_threads_share_the_cores_and_gpu_instances_take_one() -> None:
    cores = available_cores()
    assert intra_op_threads("CPU", 1) == cores
    assert intra_op_threads("CPU", cores * 4) == 1
    assert intra_op_threads("GPU", 1) == 1


def test_preference_parsing() -> None:
    assert parse_preference(" TensorRT , cuda") == ("tensorrt", "cuda")
    with pytest.raises(ValueError, match="GPU execution providers"):
        parse_preference("cpu")
