"""Sequence-length buckets, and the TensorRT optimisation profiles built on them.

Two consumers share one definition of the buckets:

- A TensorRT engine is tuned for the shapes of its optimisation profiles. One profile per
  length bucket (`min` just above the previous bucket, `opt` and `max` at the bucket) keeps every
  batch close to a shape the builder optimised for; the runtime picks the profile that covers a
  batch's `(rows, length)`.
- Triton's native backends cannot take ragged inputs, and the dynamic batcher only merges
  requests of equal shape. The tokenizer of a native deployment therefore pads each request up
  to a bucket, so requests of different lengths still meet in one batch.

Example:
    >>> length_buckets(256)
    (16, 32, 64, 128, 256)
    >>> bucket_for(40, (16, 32, 64))
    64
    >>> [p.max_shape for p in optimization_profiles(max_batch=64, buckets=(32, 128))]
    [(64, 32), (64, 128)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Smallest bucket: below 16 tokens padding costs next to nothing.
SMALLEST_BUCKET = 16


def length_buckets(max_length: int, smallest: int = SMALLEST_BUCKET) -> tuple[int, ...]:
    """Powers of two from `smallest` below `max_length`, then `max_length` itself."""
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    buckets = []
    size = smallest
    while size < max_length:
        buckets.append(size)
        size *= 2
    buckets.append(max_length)
    return tuple(buckets)


def bucket_for(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds `length` tokens (the largest when none does: the
    tokenizer truncates to it, so a longer row cannot reach here in a correct deployment)."""
    for bucket in buckets:
        if length <= bucket:
            return bucket
    return buckets[-1]


@dataclass(frozen=True)
class Profile:
    """One optimisation profile: (rows, length) bounds shared by every token input."""

    min_shape: tuple[int, int]
    opt_shape: tuple[int, int]
    max_shape: tuple[int, int]

    def covers(self, rows: int, length: int) -> bool:
        return self.min_shape[0] <= rows <= self.max_shape[0] and self.min_shape[1] <= length <= self.max_shape[1]

    def to_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min_shape), "opt": list(self.opt_shape), "max": list(self.max_shape)}


def optimization_profiles(
    max_batch: int, buckets: Sequence[int], *, max_batch_tokens: int | None = None
) -> tuple[Profile, ...]:
    """One profile per bucket, with disjoint length ranges so exactly one covers a batch.

    `opt` rows: what the runtime's token budget lets through at that length (a sub-batch holds
    at most `max_batch_tokens` padded tokens), capped by `max_batch`.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    ordered = sorted(set(buckets))
    profiles = []
    previous = 0
    for bucket in ordered:
        opt_rows = max_batch if max_batch_tokens is None else max(1, min(max_batch, max_batch_tokens // bucket))
        profiles.append(
            Profile(min_shape=(1, previous + 1), opt_shape=(opt_rows, bucket), max_shape=(max_batch, bucket))
        )
        previous = bucket
    return tuple(profiles)


def pick_profile(profiles: Sequence[Profile], rows: int, length: int) -> int:
    """Index of the profile covering a batch of `rows` x `length` tokens."""
    for index, profile in enumerate(profiles):
        if profile.covers(rows, length):
            return index
    limits = ", ".join(f"{p.min_shape}..{p.max_shape}" for p in profiles)
    raise ValueError(
        f"no optimisation profile covers a batch of {rows} rows x {length} tokens (profiles: {limits}); "
        "rebuild the engine with a larger --max-batch-size or max length"
    )
