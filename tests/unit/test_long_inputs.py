"""Long inputs in the runtime: the policy of a request, the tokenizer's windows and truncation
flags, and the encoder's expansion of windows into rows and pooling back (runtime/chunks.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.contract import Activation, LongInputs
from encoder_triton.errors import InvalidTextError
from encoder_triton.runtime.chunks import check_chunks, expand, pool
from encoder_triton.runtime.long_inputs import resolve_policy, window_overlap
from encoder_triton.runtime.tokenization import TextTokenizer, TokenBatch

LONG = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"


@pytest.fixture(scope="module")
def tokenizer(minilm_dir: Path) -> TextTokenizer:
    return TextTokenizer.from_file(minilm_dir / "tokenizer.json", max_length=8, pad_id=0, chunk_overlap=2)


@pytest.fixture(scope="module")
def vocab(minilm_dir: Path) -> Any:
    """Each id's token, special ones included."""
    from tokenizers import Tokenizer

    plain = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    return lambda ids: [plain.id_to_token(int(i)) for i in ids]


def _rows(batch: TokenBatch, vocab: Any) -> list[list[str]]:
    return [vocab(row[mask == 1]) for row, mask in zip(batch.input_ids, batch.attention_mask, strict=True)]


def test_a_request_names_its_policy_or_truncates_at_its_max_length() -> None:
    assert resolve_policy("chunk", LongInputs.ERROR, max_length_given=True) is LongInputs.CHUNK
    assert resolve_policy(None, LongInputs.CHUNK, max_length_given=False) is LongInputs.CHUNK
    assert resolve_policy(None, LongInputs.ERROR, max_length_given=True) is LongInputs.TRUNCATE  # as before
    assert resolve_policy(None, LongInputs.TRUNCATE_LEFT, max_length_given=True) is LongInputs.TRUNCATE_LEFT
    with pytest.raises(InvalidTextError, match="long_inputs must be one of truncate, truncate_left, error, chunk"):
        resolve_policy("split", LongInputs.TRUNCATE, max_length_given=False)
    assert window_overlap(None, limit=512, room=510) == 64
    assert window_overlap(100, limit=16, room=14) == 13  # tokenizers needs fewer than a window


def test_truncation_is_flagged_per_row_and_left_keeps_the_end(tokenizer: TextTokenizer, vocab: Any) -> None:
    right = tokenizer.encode(["one two", LONG])
    assert right.truncated.tolist() == [0, 1] and right.chunks.tolist() == [1, 1]
    assert _rows(right, vocab)[1] == ["[CLS]", *LONG.split()[:6], "[SEP]"]
    left = tokenizer.encode([LONG], long_inputs="truncate_left")
    assert _rows(left, vocab) == [["[CLS]", *LONG.split()[-6:], "[SEP]"]]


def test_error_names_the_limit_and_the_length(tokenizer: TextTokenizer) -> None:
    with pytest.raises(
        InvalidTextError, match=r"text 1 has 17 tokens, over this model's limit of 8 \(long_inputs=error\)"
    ):
        tokenizer.encode(["short", LONG], long_inputs="error")
    with pytest.raises(InvalidTextError, match="over this request's max_length limit of 4"):
        tokenizer.encode(["three words here"], long_inputs="error", max_length=4)


def test_chunk_lays_overlapping_windows_side_by_side(tokenizer: TextTokenizer, vocab: Any) -> None:
    batch = tokenizer.encode(["one two", LONG], long_inputs="chunk")
    assert batch.chunks.tolist() == [1, 4] and batch.truncated.tolist() == [0, 0]
    assert batch.input_ids.shape == (2, 4 * 8)
    windows, owners = expand(batch)
    assert owners.tolist() == [0, 1, 1, 1, 1]
    texts = _rows(windows, vocab)
    assert texts[0] == ["[CLS]", "one", "two", "[SEP]"]
    # Six words of text per window, two shared with the window before, the last reaching the end.
    words = LONG.split()
    assert [t[1:-1] for t in texts[1:]] == [words[0:6], words[4:10], words[8:14], words[12:15]]
    assert all(t[0] == "[CLS]" and t[-1] == "[SEP]" for t in texts)
    fits = tokenizer.encode(["one two", "three four"], long_inputs="chunk")
    assert fits.input_ids.shape == (2, 4) and fits.chunks.tolist() == [1, 1]  # nothing to pay


def test_pair_windows_keep_the_query_whole(minilm_dir: Path, vocab: Any) -> None:
    tokenizer = TextTokenizer.from_file(minilm_dir / "tokenizer.json", max_length=12, pad_id=0, chunk_overlap=2)
    batch = tokenizer.encode_pairs(["what query"], [LONG], long_inputs="chunk")
    windows, owners = expand(batch)
    assert len(windows) == int(batch.chunks[0]) > 1 and set(owners.tolist()) == {0}
    for row in _rows(windows, vocab):
        assert row[:4] == ["[CLS]", "what", "query", "[SEP]"] and row[-1] == "[SEP]"
    cut = tokenizer.encode_pairs(["q", "q"], ["one two three", "one"], max_text_tokens=2)
    assert cut.truncated.tolist() == [1, 0]


def test_expand_refuses_chunks_that_do_not_describe_the_row() -> None:
    batch = TokenBatch(np.ones((1, 5), dtype=np.int64), np.ones((1, 5), dtype=np.int64), chunks=np.array([2]))
    with pytest.raises(InvalidTextError, match="CHUNKS must give each row's number of windows"):
        check_chunks(batch)
    with pytest.raises(InvalidTextError, match="CHUNKS"):
        check_chunks(TokenBatch(batch.input_ids, batch.attention_mask, chunks=np.array([0])))


def test_pooling_rules_per_output() -> None:
    owners = np.array([0, 1, 1])
    tokens = np.array([3, 4, 2])
    embeddings = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    logits = np.array([[0.5, 0.1], [2.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    raw = np.array([[0.3], [-1.0], [2.5]], dtype=np.float32)
    pooled = pool(
        {
            contract.EMBEDDING: embeddings,
            contract.LOGITS: logits,
            contract.PROBABILITIES: np.zeros_like(logits),
            contract.RAW_SCORE: raw,
            contract.SCORE: np.zeros_like(raw),
        },
        owners,
        tokens,
        2,
        normalized=True,
        activation=Activation.SOFTMAX,
    )
    np.testing.assert_array_equal(pooled[contract.EMBEDDING][0], embeddings[0])  # one window: as it was
    expected = np.array([4.0, 2.0]) / np.linalg.norm([4.0, 2.0])  # token-weighted, renormalised
    np.testing.assert_allclose(pooled[contract.EMBEDDING][1], expected, rtol=1e-6)
    np.testing.assert_allclose(pooled[contract.LOGITS][1], [1.0, 1.0])
    np.testing.assert_allclose(pooled[contract.PROBABILITIES][1], [0.5, 0.5])
    np.testing.assert_allclose(pooled[contract.RAW_SCORE][1], [2.5])
    np.testing.assert_allclose(pooled[contract.SCORE][1], [1 / (1 + np.exp(-2.5))], rtol=1e-6)
    one_each = pool({contract.EMBEDDING: embeddings}, np.arange(3), tokens, 3)
    assert one_each[contract.EMBEDDING] is embeddings  # texts that fit: untouched
    with pytest.raises(ValueError, match="no rule pools the windows of output 'OTHER'"):
        pool({"OTHER": embeddings}, owners, tokens, 2)
