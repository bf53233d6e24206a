"""ONNX Runtime execution providers and threads for one Triton model instance.

Triton tells each python-backend instance its kind (CPU or GPU) and device; the exported
config says which GPU providers to prefer (`execution_providers`, e.g. "tensorrt,cuda"). A CPU
instance runs the CPU provider with its share of the cores; a GPU instance runs the first
preferred providers this onnxruntime build has, with the CPU provider behind them for the few
ops a GPU provider lacks. A GPU instance whose providers are all missing fails to load with an
install hint instead of silently running on the CPU.

Example:
    >>> select_providers("GPU", device_id=1, preference=("cuda",),
    ...                  available=["CUDAExecutionProvider", "CPUExecutionProvider"])
    [('CUDAExecutionProvider', {'device_id': '1'}), ('CPUExecutionProvider', {})]
    >>> select_providers("CPU", available=["CPUExecutionProvider"])
    [('CPUExecutionProvider', {})]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from encoder_triton.contract.params import parse_gpu_providers
from encoder_triton.errors import ProviderUnavailableError
from encoder_triton.runtime.shape_buckets import Profile

#: Short names used in configs and on the command line -> ONNX Runtime's provider names.
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
#: GPU providers an export prefers unless told otherwise, and a GPU instance whose config
#: names none (`execution_providers`) runs.
DEFAULT_GPU_PREFERENCE = ("cuda",)

#: CUDA provider's `sdpa_kernel` bitmask: every attention kernel but cuDNN flash attention
#: (flash 1, memory-efficient 2, TensorRT fused 4, math 16, TensorRT flash 32). Measured on an
#: H100 with onnxruntime-gpu 1.31 and the fp16 MiniLM: cuDNN's kernel, the default pick, builds
#: a graph for every new (batch, length) shape, 55-80 ms each, and serving sees a new shape in
#: most batches (fp16 served 25 texts/s at batch 1 against 110 for fp32); without it a new
#: shape costs 2-3 ms and a seen one 0.7-1 ms. The price: on a batch of 128 x 128 tokens seen
#: again and again, cuDNN's kernel ran 66k texts/s against 41k. A deployment whose shapes are
#: few (length buckets, fixed batches) can set the encoder's `cuda_attention_kernels` to "auto".
#: `sdpa_kernel` exists from onnxruntime 1.20.
CUDA_ATTENTION_KERNELS = str(1 | 2 | 4 | 16 | 32)

Provider = tuple[str, dict[str, str]]


def parse_preference(text: str) -> tuple[str, ...]:
    """Parse "tensorrt,cuda" into ("tensorrt", "cuda"), rejecting unknown names (the config
    parameter's own parser, for the command line)."""
    return parse_gpu_providers(text)


def cache_root() -> Path:
    """Where compiled engines are cached: $ENCODER_TRITON_CACHE, else ~/.cache/encoder-triton.

    Not the model repository: a container often mounts it read-only.
    """
    configured = os.environ.get("ENCODER_TRITON_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "encoder-triton"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def intra_op_threads(kind: str, cpu_instances: int) -> int:
    """Threads per ORT session so that all CPU instances together use each core once.

    A GPU instance needs one: the GPU does the work, and spare CPU threads would only compete
    with the CPU instances and the tokenizer.
    """
    if kind == "GPU":
        return 1
    return max(1, available_cores() // max(1, cpu_instances))


def select_providers(
    kind: str,
    *,
    device_id: int = 0,
    preference: Sequence[str] = DEFAULT_GPU_PREFERENCE,
    available: Sequence[str],
    fp16: bool = False,
    tensorrt_cache_dir: Path | None = None,
    profiles: Sequence[Profile] = (),
    input_names: Sequence[str] = (),
    onnxruntime_version: str = "1.20",
    attention_kernels: str = CUDA_ATTENTION_KERNELS,
) -> list[Provider]:
    """Providers with their options, best first, for an instance of `kind` ("CPU" or "GPU").

    `attention_kernels` is the CUDA provider's `sdpa_kernel` mask; "auto" leaves it to ORT.
    """
    cpu: Provider = (PROVIDERS["cpu"], {})
    if kind != "GPU":
        return [cpu]
    chosen: list[Provider] = []
    for short in preference:
        name = PROVIDERS[short]
        if name not in available:
            continue
        options = {"device_id": str(device_id)}
        if short == "cuda" and attention_kernels != "auto" and _at_least(onnxruntime_version, (1, 20)):
            options["sdpa_kernel"] = attention_kernels
        if short == "tensorrt":
            options.update(
                tensorrt_ep_options(fp16=fp16, cache_dir=tensorrt_cache_dir, profiles=profiles, input_names=input_names)
            )
        chosen.append((name, options))
    if not chosen:
        wanted = ", ".join(PROVIDERS[s] for s in preference)
        raise ProviderUnavailableError(
            f"this GPU instance asks for {wanted}, but onnxruntime offers only {list(available)}: "
            "install onnxruntime-gpu (built with TensorRT for the tensorrt provider) next to encoder-triton, "
            "or export with --device cpu"
        )
    return [*chosen, cpu]


def _at_least(version: str, wanted: tuple[int, int]) -> bool:
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return tuple(parts) >= wanted


def tensorrt_ep_options(
    *, fp16: bool, cache_dir: Path | None, profiles: Sequence[Profile], input_names: Sequence[str]
) -> dict[str, str]:
    """Options of ORT's TensorRT provider: precision, engine cache, and explicit profiles.

    Explicit profiles (one per length bucket) stop the provider from rebuilding its engine each
    time a batch exceeds the shapes it has seen, which otherwise stalls serving for seconds.
    """
    options = {"trt_fp16_enable": "True" if fp16 else "False"}
    if cache_dir is not None:
        options.update({"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir)})
    if profiles and input_names:

        def shapes(pick: str) -> str:
            return ",".join(
                f"{name}:{'x'.join(str(d) for d in getattr(p, pick))}" for p in profiles for name in input_names
            )

        options.update(
            {
                "trt_profile_min_shapes": shapes("min_shape"),
                "trt_profile_opt_shapes": shapes("opt_shape"),
                "trt_profile_max_shapes": shapes("max_shape"),
            }
        )
    return options
