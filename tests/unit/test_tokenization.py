from pathlib import Path

import numpy as np
import pytest

from encoder_triton.runtime.tokenization import TextTokenizer, TokenBatch


@pytest.fixture(scope="module")
def tokenizer(minilm_dir: Path) -> TextTokenizer:
    return TextTokenizer.from_file(minilm_dir / "tokenizer.json", max_length=256, pad_id=0)


def test_matches_transformers_tokenizer_on_real_sentences(
    tokenizer: TextTokenizer, minilm_dir: Path, corpus_sentences: list[str]
) -> None:
    from transformers import AutoTokenizer

    texts = corpus_sentences[:64] + ["x " * 400]  # the last one needs truncation
    reference = AutoTokenizer.from_pretrained(str(minilm_dir))(
        texts, padding=True, truncation=True, max_length=256, return_tensors="np"
    )
    ours = tokenizer.encode(texts)
    np.testing.assert_array_equal(ours.input_ids, reference["input_ids"])
    np.testing.assert_array_equal(ours.attention_mask, reference["attention_mask"])
    np.testing.assert_array_equal(ours.token_type_ids, reference["token_type_ids"])


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
