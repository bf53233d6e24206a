from pathlib import Path

import numpy as np
import pytest

from encoder_triton.runtime.tokenization import TextTokenizer, TokenBatch


@pytest.fixture(scope="module")
def tokenizer(minilm_dir: Path) -> TextTokenizer:
    return TextTokenizer.from_file(minilm_dir / "tokenizer.json", max_length=256, pad_id=0)


def test_pads_to_the_longest_in_the_batch_not_to_a_fixed_length(tokenizer: TextTokenizer) -> None:
    # The shipped tokenizer.json pads everything to 128; we must not.
    batch = tokenizer.encode(["short", "a somewhat longer text here"])
    assert batch.input_ids.shape[1] < 16
    assert batch.lengths.tolist() == [3, batch.input_ids.shape[1]]


def test_take_trims_padding_and_concat_restores_width() -> None:
    a = TokenBatch(np.array([[1, 2, 3, 0]]), np.array([[1, 1, 1, 0]]), np.zeros((1, 4), dtype=np.int64))
    b = TokenBatch(np.array([[4, 5]]), np.array([[1, 1]]), np.zeros((1, 2), dtype=np.int64))
    merged = TokenBatch.concat([a, b], pad_id=9)
    assert merged.input_ids.tolist() == [[1, 2, 3, 0], [4, 5, 9, 9]]
    assert merged.attention_mask.tolist() == [[1, 1, 1, 0], [1, 1, 0, 0]]
    assert merged.take([1]).input_ids.tolist() == [[4, 5]]
    assert merged.take([0, 1]).input_ids.shape == (2, 3)


def test_without_truncation_an_over_long_text_is_rejected(minilm_dir: Path) -> None:
    from encoder_triton.runtime.texts import InvalidTextError

    strict = TextTokenizer.from_file(minilm_dir / "tokenizer.json", max_length=8, pad_id=0, truncate=False)
    assert strict.encode(["three words here"]).input_ids.shape == (1, 5)
    with pytest.raises(InvalidTextError, match=r"text 1 has 12 tokens, over this model's limit of 8"):
        strict.encode(["short", "one two three four five six seven eight nine ten"])
