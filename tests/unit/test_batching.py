import numpy as np
import pytest

from encoder_triton.runtime.batching import plan_sub_batches


@pytest.mark.parametrize("budget", [1, 50, 256, 4096])
def test_every_row_once_within_budget(budget: int) -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 256, size=200)
    batches = plan_sub_batches(lengths, budget)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(200))
    for batch in batches:
        padded = len(batch) * int(lengths[batch].max())
        assert padded <= budget or len(batch) == 1


def test_sub_batches_are_length_sorted_so_short_rows_share_little_padding() -> None:
    lengths = [200, 5, 6, 190, 7, 8]
    batches = plan_sub_batches(lengths, max_batch_tokens=400)
    assert [sorted(b.tolist()) for b in batches] == [[1, 2, 4, 5], [0, 3]]


def test_rejects_a_non_positive_budget() -> None:
    with pytest.raises(ValueError, match="max_batch_tokens"):
        plan_sub_batches([1, 2], 0)


def test_empty_input_plans_nothing() -> None:
    assert plan_sub_batches([], 100) == []
