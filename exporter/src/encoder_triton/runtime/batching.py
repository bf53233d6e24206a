"""Token-budget sub-batching: the cure for padding waste inside one dynamic batch.

Triton's dynamic batcher counts requests, not tokens: one 256-token text among 31 short ones
would make all 32 rows cost 256 tokens. The encoder model sorts the rows of a dynamic batch by
length and cuts them into sub-batches whose padded size (rows x longest row) stays within a
token budget; results are scattered back in the original order.

Example:
    >>> [list(b) for b in plan_sub_batches([5, 100, 6, 7], max_batch_tokens=200)]
    [[0, 2, 3], [1]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def plan_sub_batches(lengths: Sequence[int] | np.ndarray, max_batch_tokens: int) -> list[np.ndarray]:
    """Row indices grouped into length-sorted sub-batches of padded size <= max_batch_tokens.

    A row longer than the budget on its own still gets a sub-batch of one: nothing is dropped.
    """
    if max_batch_tokens < 1:
        raise ValueError(f"max_batch_tokens must be >= 1, got {max_batch_tokens}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        # Sorted ascending, so the row just added is the longest of the candidate sub-batch.
        if end < len(order):
            rows_if_added = end + 1 - start
            if rows_if_added * int(lengths[order[end]]) > max_batch_tokens:
                batches.append(order[start:end])
                start = end
        else:
            batches.append(order[start:end])
    return [b for b in batches if len(b)]
