"""Everything the sync and async clients share that is not I/O.

A task method makes a `TaskCall` (see `_tasks.py`), reads the model's `ModelInfo` (I/O), and
`_BaseClient.plan` turns the two into a `Plan`: the requests, split by the model's own
`max_batch_size`, the outputs to ask for (TOKEN_COUNT and TRUNCATED too when the model
reports usage), and how to assemble the result. Each client executes a plan its own way (threads or tasks) and
hands the outputs back to `Plan.assemble`.

Example:
    >>> from encoder_triton.client._tasks import EmbedCall
    >>> info = ModelInfo(name="minilm", task="embed", max_batch_size=2, reports_tokens=True)
    >>> call = EmbedCall(["a", "b", "c"], dimensions=None)
    >>> plan = _BaseClient.plan("minilm", call, info)
    >>> plan.chunks, plan.outputs
    ([slice(0, 2, None), slice(2, 3, None)], ['EMBEDDING', 'TOKEN_COUNT'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic

import numpy as np

from encoder_triton import contract
from encoder_triton.client._exceptions import EncoderError, InvalidInputError
from encoder_triton.client._retry import RetryPolicy
from encoder_triton.client._tasks import EmbedTokensCall, Outputs, R, TaskCall
from encoder_triton.client._types import ModelInfo


@dataclass(frozen=True)
class Plan(Generic[R]):
    """One task call against one model: the requests to send and how to assemble the answers."""

    model: str
    chunks: list[slice]  # which rows of the caller's input each request carries
    requests: list[dict[str, np.ndarray]]
    outputs: list[str]
    assemble_outputs: Callable[[Outputs], R]
    parameters: dict[str, int | str] = dataclasses.field(default_factory=dict)  # Triton request parameters

    def assemble(self, outputs: Outputs) -> R:
        """The typed result, with usage (tokens seen, texts truncated) summed over every request
        when the model reports it."""
        result = self.assemble_outputs(outputs)
        tokens, truncated = (self._total(outputs, name) for name in (contract.TOKEN_COUNT, contract.TRUNCATED))
        if tokens is not None:
            result = dataclasses.replace(result, prompt_tokens=tokens)
        if truncated is not None:
            result = dataclasses.replace(result, truncated=truncated)
        return result

    @staticmethod
    def _total(outputs: Outputs, name: str) -> int | None:
        counts = [o[name] for o in outputs if name in o]
        return int(sum(int(c.sum()) for c in counts)) if counts else None

    def locate(self, error: EncoderError, index: int) -> EncoderError:
        """`error` of request `index`, prefixed with the slice of the caller's input it is about."""
        if len(self.chunks) == 1:
            return error
        chunk = self.chunks[index]
        located = type(error)(f"texts[{chunk.start}:{chunk.stop}]: {error}")
        located.__cause__ = error.__cause__
        return located


class _BaseClient:
    """Request planning, result assembly and retry timing shared by the sync and async clients."""

    def __init__(self, *, max_concurrency: int, retries: int | RetryPolicy) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency
        self.retry = retries if isinstance(retries, RetryPolicy) else RetryPolicy(retries=retries)
        self._infos: dict[str, ModelInfo] = {}

    @staticmethod
    def plan(model: str, call: TaskCall[R], info: ModelInfo) -> Plan[R]:
        """Check that `model` serves the call's task, then split the call by its max_batch_size."""
        if info.task != call.task.value:
            hint = f": call {info.task}() for it" if info.task in {t.value for t in contract.Task} else ""
            raise InvalidInputError(f"model {info.name!r} serves task {info.task!r}, not {call.task.value!r}{hint}")
        call.check(info)
        size = info.max_batch_size or 1
        chunks = [slice(start, min(start + size, call.rows)) for start in range(0, call.rows, size)]
        target = call.target(model)
        outputs = list(call.outputs)
        # Usage comes from the tokenizer step: only a call through the ensemble gets it.
        if target == model:
            outputs += [contract.TOKEN_COUNT] if info.reports_tokens else []
            outputs += [contract.TRUNCATED] if info.reports_truncation else []
        return Plan(
            model=target,
            chunks=chunks,
            requests=[call.inputs(chunk) for chunk in chunks],
            outputs=outputs,
            assemble_outputs=lambda answers: call.assemble(info, answers),
            parameters=dict(call.parameters),
        )

    @staticmethod
    def encoder_name(model: str) -> str:
        """The encoder step behind the ensemble `model` (token ids go straight to it)."""
        return contract.component_names(model)[1]

    @staticmethod
    def tokens_call(ids: Sequence[Sequence[int]], dimensions: int | None, encoder: ModelInfo) -> EmbedTokensCall:
        """An `embed_tokens` call, sending token_type_ids when the encoder's graph takes them."""
        return EmbedTokensCall(ids, dimensions=dimensions, token_type_ids=contract.TOKEN_TYPE_IDS in encoder.inputs)

    @staticmethod
    def public(infos: list[ModelInfo]) -> list[ModelInfo]:
        """The ensembles the exporter wrote (components carry no task)."""
        return [info for info in infos if info.task != "unknown"]

    @staticmethod
    def next_delay(error: EncoderError, delays: Iterator[float]) -> float:
        """The wait before retrying after `error`; re-raises it when it is final."""
        delay = next(delays, None) if error.retryable else None
        if delay is None:
            raise error
        return delay
