"""The encoder as a model of Triton's own backends: `onnxruntime`, or the `tensorrt_plan` platform.

For container deployments (the NGC image has both backends; the pip wheel's embedded Triton
has neither, which is why this is opt-in and validated by parsing, not by serving here):

- `onnxruntime`: `model.onnx`, threads per instance from our core-sharing rule, and on GPU
  instances ONNX Runtime's TensorRT accelerator (FP16 for an fp16 export) when the export
  prefers the TensorRT provider;
- `tensorrt_plan`: `model.plan` from `tensorrt_engine`, GPU instances only.

Neither takes ragged batches: the inputs are plain [-1] token tensors, and the tokenizer pads
each request to a length bucket so the dynamic batcher can merge requests of equal padded
length (see `runtime.shape_buckets`).

Example:
    >>> config = native_encoder_config("m_encoder", inputs, outputs, execution, options)  # doctest: +SKIP
    >>> config.backend, config.default_model_filename  # doctest: +SKIP
    ('onnxruntime', 'model.onnx')
"""

from __future__ import annotations

from typing import Any

from encoder_triton.contract import Precision, Runner
from encoder_triton.contract.model_config import DynamicBatching, InstanceGroup, ModelConfig, Tensor, Warmup
from encoder_triton.export.precision.execution import Device, EncoderExecution
from encoder_triton.runtime.providers import intra_op_threads


def native_encoder_config(
    name: str,
    *,
    inputs: tuple[Tensor, ...],
    outputs: tuple[Tensor, ...],
    execution: EncoderExecution,
    max_batch_size: int,
    instances: int,
    batching: DynamicBatching,
    warmups: tuple[Warmup, ...] = (),
    rate_limiter_resources: tuple[tuple[str, int], ...] = (),
) -> ModelConfig:
    """The encoder's config for Triton's native backend matching `execution.runner`."""
    plain_inputs = tuple(Tensor(t.name, t.dtype, t.dims) for t in inputs)  # native: no ragged batches
    group = (
        InstanceGroup(count=instances, kind=execution.instance_kind, rate_limiter_resources=rate_limiter_resources),
    )
    if execution.runner is Runner.TENSORRT:
        return ModelConfig(
            name=name,
            platform="tensorrt_plan",
            default_model_filename=execution.file,
            max_batch_size=max_batch_size,
            inputs=plain_inputs,
            outputs=outputs,
            dynamic_batching=batching,
            instance_groups=group,
            warmups=warmups,
        )
    kind = "GPU" if execution.device is Device.GPU else "CPU"
    cpu_instances = instances if kind == "CPU" else 0
    return ModelConfig(
        name=name,
        backend="onnxruntime",
        default_model_filename=execution.file,
        max_batch_size=max_batch_size,
        inputs=plain_inputs,
        outputs=outputs,
        dynamic_batching=batching,
        instance_groups=group,
        # The onnxruntime backend's own parameter names.
        parameters={
            "intra_op_thread_count": str(intra_op_threads(kind, cpu_instances)),
            "inter_op_thread_count": "1",
        },
        optimization=_gpu_accelerator(execution),
        warmups=warmups,
    )


def _gpu_accelerator(execution: EncoderExecution) -> dict[str, Any] | None:
    """ORT's TensorRT provider on GPU instances, when the export prefers it."""
    if execution.device is not Device.GPU or execution.gpu_providers[0] != "tensorrt":
        return None
    precision = "FP16" if execution.precision is Precision.FP16 else "FP32"
    accelerator = {
        "name": "tensorrt",
        "parameters": {"precision_mode": precision, "max_workspace_size_bytes": str(4 << 30)},
    }
    return {"execution_accelerators": {"gpu_execution_accelerator": [accelerator]}}
