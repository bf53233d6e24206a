"""Length buckets and TensorRT optimisation profiles."""

import pytest

from encoder_triton.contract.params import parse_length_buckets
from encoder_triton.runtime.shape_buckets import (
    Profile,
    bucket_for,
    length_buckets,
    optimization_profiles,
    pick_profile,
)


def test_buckets_are_powers_of_two_up_to_the_limit() -> None:
    assert length_buckets(256) == (16, 32, 64, 128, 256)
    assert length_buckets(200) == (16, 32, 64, 128, 200)
    assert length_buckets(8) == (8,)
    with pytest.raises(ValueError):
        length_buckets(0)


def test_bucket_for_picks_the_smallest_that_fits() -> None:
    assert [bucket_for(n, (16, 32, 64)) for n in (1, 16, 17, 64, 99)] == [16, 16, 32, 64, 64]


def test_parse_length_buckets() -> None:
    assert parse_length_buckets("64, 16,32,16") == (16, 32, 64)
    for bad in ("", "a,b", "0,16"):
        with pytest.raises(ValueError):
            parse_length_buckets(bad)


def test_profiles_cover_every_shape_exactly_once() -> None:
    profiles = optimization_profiles(64, (16, 32, 64, 128), max_batch_tokens=2048)
    assert profiles[0] == Profile(min_shape=(1, 1), opt_shape=(64, 16), max_shape=(64, 16))
    assert profiles[-1] == Profile(min_shape=(1, 65), opt_shape=(16, 128), max_shape=(64, 128))
    for rows in (1, 7, 64):
        for length in range(1, 129):
            covering = [i for i, p in enumerate(profiles) if p.covers(rows, length)]
            assert covering == [pick_profile(profiles, rows, length)]


def test_no_profile_for_a_too_large_batch_says_what_to_do() -> None:
    profiles = optimization_profiles(8, (16,))
    with pytest.raises(ValueError, match="no optimisation profile covers a batch of 9 rows x 4 tokens"):
        pick_profile(profiles, 9, 4)
    assert profiles[0].to_dict() == {"min": [1, 1], "opt": [8, 16], "max": [8, 16]}
