"""The encoder's sub-batch planner: every row once, within budget, and the least padded cost;
and the two batching modes of the encoder step."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from encoder_triton.contract import Batching
from encoder_triton.runtime.batching import plan_sub_batches
from encoder_triton.runtime.encoder import encode_in_sub_batches
from encoder_triton.runtime.tokenization import TokenBatch


def _cost(lengths: np.ndarray, batches: list[np.ndarray], overhead: int) -> int:
    return sum(len(b) * int(lengths[b].max()) + overhead for b in batches)


def _brute_force(lengths: np.ndarray, budget: int, overhead: int) -> int:
    """The cheapest split of the sorted rows into consecutive groups (2^(n-1) of them)."""
    order = np.argsort(lengths, kind="stable")
    best = None
    for cuts in itertools.product([False, True], repeat=len(order) - 1):
        groups, start = [], 0
        for i, cut in enumerate(cuts, start=1):
            if cut:
                groups.append(order[start:i])
                start = i
        groups.append(order[start:])
        if any(len(g) > 1 and len(g) * lengths[g].max() > budget for g in groups):
            continue
        cost = _cost(lengths, groups, overhead)
        best = cost if best is None else min(best, cost)
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(20))
def test_plan_is_optimal_and_complete(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 256, size=int(rng.integers(1, 9)))
    budget = int(rng.choice([64, 300, 1024, 8192]))
    batches = plan_sub_batches(lengths, budget, call_overhead_tokens=32)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or len(batch) * lengths[batch].max() <= budget
    assert _cost(lengths, batches, 32) == _brute_force(lengths, budget, 32)


def test_long_rows_do_not_pad_short_ones() -> None:
    lengths = np.array([10] * 60 + [250] * 4)
    batches = plan_sub_batches(lengths, 8192)
    padded = sum(len(b) * int(lengths[b].max()) for b in batches)
    assert padded == int(lengths.sum())  # no padding at all, against 64 x 250 in one batch


def test_equal_lengths_share_one_call_up_to_the_budget() -> None:
    assert [len(b) for b in plan_sub_batches([7] * 16, 8192)] == [16]
    assert [len(b) for b in plan_sub_batches([7] * 16, 56)] == [8, 8]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_batch_tokens"):
        plan_sub_batches([1], 0)
    with pytest.raises(ValueError, match="call_overhead_tokens"):
        plan_sub_batches([1], 10, call_overhead_tokens=-1)
    assert plan_sub_batches([], 10) == []


def _ragged(lengths: list[int]) -> TokenBatch:
    width = max(lengths)
    ids = np.zeros((len(lengths), width), np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = np.arange(1, n + 1) + 1000 * row
        mask[row, :n] = 1
    return TokenBatch(input_ids=ids, attention_mask=mask)


def _recording_runner(calls: list[tuple[int, int]]) -> Any:
    def run(sub: TokenBatch) -> dict[str, np.ndarray]:
        calls.append((len(sub), sub.input_ids.shape[1]))
        return {"ROW": (sub.input_ids[:, :1] // 1000).astype(np.float32)}

    return run


def test_token_budget_sorts_and_splits_but_answers_in_input_order() -> None:
    calls: list[tuple[int, int]] = []
    out = encode_in_sub_batches(_recording_runner(calls), _ragged([200, 5, 6, 190, 7, 8]), max_batch_tokens=400)
    assert out["ROW"][:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert sorted(calls) == [(2, 200), (4, 8)]  # each sub-batch padded to its own longest row


def test_pad_to_longest_is_one_call_over_every_row() -> None:
    calls: list[tuple[int, int]] = []
    batch = _ragged([200, 5, 6, 190, 7, 8])
    out = encode_in_sub_batches(_recording_runner(calls), batch, max_batch_tokens=400, batching=Batching.PAD_TO_LONGEST)
    assert out["ROW"][:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert calls == [(6, 200)]
