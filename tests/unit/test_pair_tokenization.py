"""Rerank pairs: the truncation rule that keeps the query, and refusals (parity with
transformers' template and truncation: tests/export/test_tokenizer_parity.py)."""

from pathlib import Path

import pytest

from encoder_triton.runtime.texts import InvalidTextError
from encoder_triton.runtime.tokenization import TextTokenizer, pair_truncation


def test_pair_truncation_rule() -> None:
    assert pair_truncation(10, 3, 16) == "only_second"
    assert pair_truncation(12, 3, 16) == "only_second"  # leaves one document token
    assert pair_truncation(13, 3, 16) == "longest_first"


def test_mismatched_and_untruncated_pairs_are_refused(minilm_dir: Path) -> None:
    tokenizer = TextTokenizer.from_file(minilm_dir / "tokenizer.json", max_length=16, pad_id=0)
    with pytest.raises(ValueError, match="2 queries for 1 texts"):
        tokenizer.encode_pairs(["a", "b"], ["c"])
    strict = TextTokenizer.from_file(minilm_dir / "tokenizer.json", max_length=16, pad_id=0, truncate=False)
    with pytest.raises(InvalidTextError, match="pair 1 has .* tokens, over this model's limit of 16"):
        strict.encode_pairs(["q", "q"], ["short", "long " * 40])
