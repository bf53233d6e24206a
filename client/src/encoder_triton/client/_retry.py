"""Retries with exponential backoff and jitter, for retryable errors only (opt-in).

Example:
    >>> policy = RetryPolicy(retries=3, backoff_s=0.1)
    >>> [round(d, 2) for d in policy.delays(jitter=False)]
    [0.1, 0.2, 0.4]
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` extra attempts after the first; delays double from `backoff_s` up to `max_backoff_s`."""

    retries: int = 0
    backoff_s: float = 0.1
    max_backoff_s: float = 5.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("retries and backoff times must be >= 0")

    def delays(self, *, jitter: bool = True) -> Iterator[float]:
        """The wait before each retry (full jitter spreads clients that failed together)."""
        for attempt in range(self.retries):
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
            yield random.uniform(0, delay) if jitter else delay
