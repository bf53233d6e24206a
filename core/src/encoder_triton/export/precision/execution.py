"""How the served encoder step runs: its file, runner, precision, Triton backend and device.

The repository writer renders this into the encoder's config.pbtxt:

- backend `python` (the default, portable: the embedded Triton and the NGC container alike)
  hosts our runtime, which runs `model.onnx` with ONNX Runtime (providers chosen per instance
  kind: CPU, or CUDA / TensorRT on a GPU) or `model.plan` with the TensorRT runtime;
- backend `native` hands the file to Triton's own `onnxruntime` backend or `tensorrt_plan`
  platform, for container deployments; those take no ragged batches, so the tokenizer pads
  each request to a length bucket and equal shapes batch together.

Example:
    >>> EncoderExecution(precision=Precision.FP16, device=Device.GPU).instance_kind
    'KIND_GPU'
    >>> EncoderExecution(runner=Runner.TENSORRT)
    Traceback (most recent call last):
    ...
    ValueError: a TensorRT engine runs on a GPU: use --device gpu
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from encoder_triton.contract import Precision, Runner
from encoder_triton.contract.params import DEFAULT_ENCODER_FILE, GPU_PROVIDERS
from encoder_triton.runtime.providers import DEFAULT_GPU_PREFERENCE


class Backend(str, enum.Enum):
    """The Triton backend of the encoder model."""

    PYTHON = "python"
    NATIVE = "native"


class Device(str, enum.Enum):
    """The encoder's instance kind."""

    CPU = "cpu"
    GPU = "gpu"


class ArtifactFormat(str, enum.Enum):
    """What the export produces: an ONNX graph, or a TensorRT engine built from it."""

    ONNX = "onnx"
    TENSORRT = "tensorrt"


class Optimize(str, enum.Enum):
    """ONNX Runtime's offline transformer optimiser: `auto` fuses when the precision gains from
    it (int8, fp16) and never for TensorRT (which takes no ORT contrib ops)."""

    AUTO = "auto"
    NONE = "none"
    FUSE = "fuse"


@dataclass(frozen=True)
class EncoderExecution:
    file: str = DEFAULT_ENCODER_FILE
    runner: Runner = Runner.ONNXRUNTIME
    precision: Precision = Precision.FP32
    backend: Backend = Backend.PYTHON
    device: Device = Device.CPU
    #: ONNX Runtime providers a GPU instance prefers, best first ("tensorrt", "cuda").
    gpu_providers: tuple[str, ...] = DEFAULT_GPU_PREFERENCE
    #: Native backends: the tokenizer pads each request up to one of these lengths.
    length_buckets: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.runner is Runner.TENSORRT and self.device is not Device.GPU:
            raise ValueError("a TensorRT engine runs on a GPU: use --device gpu")
        unknown = [p for p in self.gpu_providers if p not in GPU_PROVIDERS]
        if unknown or not self.gpu_providers:
            raise ValueError(f"GPU providers must be among {GPU_PROVIDERS}, got {self.gpu_providers}")
        if self.backend is Backend.NATIVE and not self.length_buckets:
            raise ValueError("a native backend needs length buckets (it cannot batch ragged inputs)")

    @property
    def instance_kind(self) -> str:
        return "KIND_GPU" if self.device is Device.GPU else "KIND_CPU"
