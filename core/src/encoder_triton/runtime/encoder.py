"""The encoder step: an ONNX graph (its task's head folded in) run by ONNX Runtime over tokens.

Rows arrive from many requests at once; `OnnxEncoder.encode_outputs` runs them in length-sorted
sub-batches under a token budget (see `batching`) and returns one row per input row, in the
original order, for each graph output (EMBEDDING; LOGITS and PROBABILITIES; SCORE and
RAW_SCORE). `encode` returns the first output alone.

Example:
    >>> enc = OnnxEncoder("model.onnx", intra_op_threads=2)  # doctest: +SKIP
    >>> enc.encode(tokenizer.encode(["hello world"])).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.contract import Batching
from encoder_triton.contract.params import DEFAULT_MAX_BATCH_TOKENS
from encoder_triton.runtime.batching import plan_rows
from encoder_triton.runtime.providers import available_cores
from encoder_triton.runtime.tokenization import TokenBatch


def encode_in_sub_batches(
    run_outputs: Callable[[TokenBatch], dict[str, np.ndarray]],
    batch: TokenBatch,
    max_batch_tokens: int,
    max_rows: int | None = None,
    batching: Batching = Batching.TOKEN_BUDGET,
) -> dict[str, np.ndarray]:
    """Every output of `run_outputs` for every row of `batch`, in the input order.

    token_budget: length-sorted sub-batches under `max_batch_tokens`; pad_to_longest: the rows
    as they came, padded to the longest. Either way at most `max_rows` rows per call (the limit
    of a TensorRT profile). A per-token output (`contract.TOKEN_OUTPUTS`) comes back padded
    with zeros to the width of `batch`, whatever its sub-batch's width.
    """
    if len(batch) == 0:
        raise ValueError("encode() needs at least one row")
    out: dict[str, np.ndarray] = {}
    width = batch.input_ids.shape[1]
    for planned in plan_rows(batch.lengths, max_batch_tokens, batching):
        step = max_rows or len(planned)
        for start in range(0, len(planned), step):
            rows = planned[start : start + step]
            sub = batch.take(rows)
            for name, result in run_outputs(sub).items():
                if name in contract.TOKEN_OUTPUTS:
                    # Axis 1 follows the sub-batch's padded length (less any tokens the head drops).
                    dropped = sub.input_ids.shape[1] - result.shape[1]
                    if name not in out:
                        out[name] = np.zeros((len(batch), width - dropped, *result.shape[2:]), dtype=result.dtype)
                    out[name][rows, : result.shape[1]] = result
                    continue
                if name not in out:
                    out[name] = np.empty((len(batch), *result.shape[1:]), dtype=result.dtype)
                out[name][rows] = result
    return out


class OnnxEncoder:
    """One ONNX Runtime session over an exported encoder graph."""

    def __init__(
        self,
        path: str | Path,
        *,
        intra_op_threads: int = 0,
        providers: list[Any] | None = None,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        allow_spinning: bool = True,
        batching: Batching = Batching.TOKEN_BUDGET,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # 0 lets ORT use every core; Triton instances pass their share to avoid oversubscription.
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        if not allow_spinning or 0 < intra_op_threads < available_cores():
            # ORT's intra-op threads busy-wait between operators and after each run. Alone in a
            # process that is a little faster; beside a tokenizer stub, tritonserver and other
            # instances sharing the cores it burns the CPU they need (bench: 22 -> 11 ms CPU per
            # request inside Triton).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"]
        )
        self.providers = self._session.get_providers()
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]
        self.output_name = self.output_names[0]
        self.max_batch_tokens = max_batch_tokens
        self.batching = Batching(batching)

    @property
    def takes_token_type_ids(self) -> bool:
        return "token_type_ids" in self.input_names

    def run(self, batch: TokenBatch) -> np.ndarray:
        """One forward pass over `batch` exactly as padded; the first output."""
        return self.run_outputs(batch)[self.output_name]

    def run_outputs(self, batch: TokenBatch) -> dict[str, np.ndarray]:
        """One forward pass over `batch` exactly as padded; every output by name."""
        arrays = batch.arrays()
        feed = {name: arrays[name] for name in self.input_names}
        return dict(zip(self.output_names, self._session.run(self.output_names, feed), strict=True))

    def encode(self, batch: TokenBatch) -> np.ndarray:
        """The first output for every row of `batch`, batched as `self.batching` says."""
        return self.encode_outputs(batch)[self.output_name]

    def encode_outputs(self, batch: TokenBatch) -> dict[str, np.ndarray]:
        """Every output for every row of `batch`, batched as `self.batching` says."""
        return encode_in_sub_batches(self.run_outputs, batch, self.max_batch_tokens, batching=self.batching)
