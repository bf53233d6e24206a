"""The encoder step on a TensorRT engine (`model.plan`), for the python backend and in-process.

Same interface as `OnnxEncoder` (`input_names`, `output_names`, `run_outputs`, `encode_outputs`,
`encode`), so the Triton adapter and the
export-time fidelity gate treat both alike. The engine carries one optimisation profile per
length bucket (see `shape_buckets`); each batch runs on an execution context bound to the
profile that covers its shape. Device buffers are torch CUDA tensors: torch is what a GPU
python environment has anyway, and it saves a second CUDA binding.

Needs an NVIDIA GPU, the `tensorrt` package (10.x: INT64 inputs, `execute_async_v3`) and a
CUDA build of torch. Never run on our CPU-only machines; its tests are marked `gpu`.

Example:
    >>> encoder = TensorRTEncoder("model.plan", device_id=0)  # doctest: +SKIP
    >>> encoder.encode(tokenizer.encode(["hello world"])).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton.contract import Batching
from encoder_triton.contract.params import DEFAULT_MAX_BATCH_TOKENS
from encoder_triton.errors import TensorRTUnavailableError
from encoder_triton.runtime.encoder import encode_in_sub_batches
from encoder_triton.runtime.shape_buckets import Profile, pick_profile
from encoder_triton.runtime.tokenization import TokenBatch

INSTALL_HINT = (
    "install TensorRT and a CUDA build of torch on a machine with an NVIDIA GPU "
    "(pip install tensorrt torch), or serve the ONNX export instead (--format onnx)"
)


def import_tensorrt() -> Any:
    """The `tensorrt` module, or an error that says how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise TensorRTUnavailableError(f"the tensorrt package is not installed: {INSTALL_HINT}") from exc
    major = int(str(tensorrt.__version__).split(".")[0])
    if major < 10:
        raise TensorRTUnavailableError(
            f"TensorRT {tensorrt.__version__} is too old: encoder-triton needs 10.x (INT64 inputs, "
            "execute_async_v3); pip install 'tensorrt>=10'"
        )
    return tensorrt


def _import_cuda_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise TensorRTUnavailableError(f"torch is needed for TensorRT device buffers: {INSTALL_HINT}") from exc
    if not torch.cuda.is_available():
        raise TensorRTUnavailableError(f"torch sees no CUDA device: {INSTALL_HINT}")
    return torch


class TensorRTEncoder:
    """One deserialised TensorRT engine over an exported encoder graph (task head folded in)."""

    def __init__(
        self,
        path: str | Path,
        *,
        device_id: int = 0,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        batching: Batching = Batching.TOKEN_BUDGET,
    ) -> None:
        trt = import_tensorrt()
        self._torch = torch = _import_cuda_torch()
        self._device = torch.device("cuda", device_id)
        torch.cuda.set_device(self._device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self._logger)
        self._engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
        if self._engine is None:
            raise TensorRTUnavailableError(
                f"TensorRT could not load {path}: engines only run on the TensorRT version and GPU model "
                "they were built with; export again on this machine"
            )
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        # The engine decides the token dtype (int64 as exported, int32 if TensorRT narrowed it).
        self._input_dtypes = {n: np.dtype(trt.nptype(self._engine.get_tensor_dtype(n))) for n in self.input_names}
        self.output_names = [n for n in names if not is_input[n]]
        self.output_name = self.output_names[0]
        self.profiles = self._read_profiles()
        self.max_batch_tokens = max_batch_tokens
        self.batching = Batching(batching)
        self.providers = ["TensorRT"]
        self._stream = torch.cuda.Stream(device=self._device)
        self._contexts: dict[int, Any] = {}

    def _read_profiles(self) -> list[Profile]:
        first = self.input_names[0]
        profiles = []
        for index in range(self._engine.num_optimization_profiles):
            low, opt, high = (tuple(int(d) for d in s) for s in self._engine.get_tensor_profile_shape(first, index))
            profiles.append(Profile(min_shape=low, opt_shape=opt, max_shape=high))  # type: ignore[arg-type]
        return profiles

    @property
    def takes_token_type_ids(self) -> bool:
        return "token_type_ids" in self.input_names

    def _context(self, profile: int) -> Any:
        # One context per profile: switching a context's profile costs a synchronisation.
        if profile not in self._contexts:
            context = self._engine.create_execution_context()
            context.set_optimization_profile_async(profile, self._stream.cuda_stream)
            self._contexts[profile] = context
        return self._contexts[profile]

    def run(self, batch: TokenBatch) -> np.ndarray:
        """One forward pass over `batch` as padded; the first output."""
        return self.run_outputs(batch)[self.output_name]

    def run_outputs(self, batch: TokenBatch) -> dict[str, np.ndarray]:
        """One forward pass over `batch` as padded; every output by name."""
        torch = self._torch
        rows, width = batch.input_ids.shape
        context = self._context(pick_profile(self.profiles, rows, width))
        arrays = batch.arrays()
        keep_alive = []
        with torch.cuda.stream(self._stream):
            for name in self.input_names:
                host = np.ascontiguousarray(arrays[name], dtype=self._input_dtypes[name])
                tensor = torch.from_numpy(host).to(self._device, non_blocking=True)
                keep_alive.append(tensor)
                context.set_input_shape(name, tuple(tensor.shape))
                context.set_tensor_address(name, tensor.data_ptr())
            outputs = {}
            for name in self.output_names:
                shape = tuple(context.get_tensor_shape(name))
                # Outputs stay fp32 whatever the precision inside (the contract's FP32 tensors).
                outputs[name] = torch.empty(shape, dtype=torch.float32, device=self._device)
                context.set_tensor_address(name, outputs[name].data_ptr())
            if not context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError(f"TensorRT failed to run a batch of {rows} x {width} tokens")
            host_outputs = {name: tensor.cpu() for name, tensor in outputs.items()}
        self._stream.synchronize()
        return {name: tensor.numpy() for name, tensor in host_outputs.items()}

    def encode(self, batch: TokenBatch) -> np.ndarray:
        """The first output for every row."""
        return self.encode_outputs(batch)[self.output_name]

    def encode_outputs(self, batch: TokenBatch) -> dict[str, np.ndarray]:
        """Every output for every row, in token-budget sub-batches no larger than the profiles allow."""
        max_rows = max(p.max_shape[0] for p in self.profiles)
        return encode_in_sub_batches(
            self.run_outputs, batch, self.max_batch_tokens, max_rows=max_rows, batching=self.batching
        )
