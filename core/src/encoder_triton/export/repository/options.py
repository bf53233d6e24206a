"""The serving knobs of an export: batching, placement, load shedding and per-text limits.

`ServingOptions` is what `encoder-triton export` takes and `repository_configs` renders into
the three config.pbtxt files; `reader.read_model` reads the same options back from a
repository. Its defaults are the component parameters' (`contract.params`), never re-typed.

Example:
    >>> ServingOptions(instances=2).max_batch_tokens == DEFAULT_MAX_BATCH_TOKENS
    True
    >>> ServingOptions(max_batch_size=0)
    Traceback (most recent call last):
    ...
    ValueError: max_batch_size must be >= 1, got 0
"""

from __future__ import annotations

from dataclasses import dataclass

from encoder_triton import contract
from encoder_triton.contract.model_config import DEFAULT_MAX_QUEUE_DELAY_US, DynamicBatching
from encoder_triton.contract.params import (
    DEFAULT_BATCHING,
    DEFAULT_LONG_INPUTS,
    DEFAULT_MAX_BATCH_TOKENS,
    DEFAULT_MAX_CHARS,
)

#: ServingOptions fields that the encoder step reads as the `EncoderParams` fields of the same
#: name: `configs.encoder_params` writes them and `reader` reads them back from this one list,
#: so a new encoder knob is a field here (and in the list), a field in EncoderParams, and its
#: use in the runtime.
ENCODER_KNOBS = ("max_batch_tokens", "batching")


@dataclass(frozen=True)
class ServingOptions:
    """Batching, placement, load-shedding and limit knobs rendered into config.pbtxt.

    `max_queue_size` bounds each step's queue: past it Triton answers 503 / UNAVAILABLE at once
    (retryable) instead of letting latency grow. `max_chars` and `long_inputs` are the per-text
    limits users can reason about (`max_chars=None`: no character limit; `long_inputs`: what a
    text over the token limit gets, with `chunk_overlap` tokens shared by the windows of
    `chunk`, None: an eighth of a window); `max_batch_size` is the most texts per request.
    """

    max_batch_size: int = 64
    instances: int = 1
    tokenizer_instances: int = 1
    max_queue_delay_us: int = DEFAULT_MAX_QUEUE_DELAY_US
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    batching: contract.Batching = DEFAULT_BATCHING
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int | None = None
    queue_timeout_us: int | None = None
    response_cache: bool = False
    warmup: bool = True
    rate_limiter_resources: tuple[tuple[str, int], ...] = ()
    max_chars: int | None = DEFAULT_MAX_CHARS
    long_inputs: contract.LongInputs = DEFAULT_LONG_INPUTS
    chunk_overlap: int | None = None

    def __post_init__(self) -> None:
        for field_name in ("max_batch_size", "instances", "tokenizer_instances", "max_batch_tokens", "max_chars"):
            value = getattr(self, field_name)
            if value is not None and value < 1:
                raise ValueError(f"{field_name} must be >= 1, got {value}")
        if self.chunk_overlap is not None and self.chunk_overlap < 0:
            raise ValueError(f"chunk_overlap must be >= 0, got {self.chunk_overlap}")
        object.__setattr__(self, "long_inputs", contract.LongInputs(self.long_inputs))  # accept "chunk"
        if self.max_queue_delay_us < 0:
            raise ValueError(f"max_queue_delay_us must be >= 0, got {self.max_queue_delay_us}")
        if self.max_queue_size is not None and self.max_queue_size < 1:
            raise ValueError(f"max_queue_size must be >= 1, got {self.max_queue_size}")
        if self.queue_timeout_us is not None and self.queue_timeout_us < 1:
            raise ValueError(f"queue_timeout_us must be >= 1, got {self.queue_timeout_us}")
        bad = [b for b in self.preferred_batch_sizes if not 1 <= b <= self.max_batch_size]
        if bad:
            raise ValueError(f"preferred batch sizes {bad} must lie in 1..max_batch_size ({self.max_batch_size})")
        if any(count < 1 for _, count in self.rate_limiter_resources):
            raise ValueError("rate limiter resource counts must be >= 1")

    def dynamic_batching(self) -> DynamicBatching:
        return DynamicBatching(
            max_queue_delay_microseconds=self.max_queue_delay_us,
            preferred_batch_size=self.preferred_batch_sizes,
            max_queue_size=self.max_queue_size,
            queue_timeout_microseconds=self.queue_timeout_us,
        )
