"""Our tokenizer against transformers' own, on the real all-MiniLM-L6-v2 tokenizer and a tiny
RoBERTa: single texts, rerank pairs and their truncation give the same ids."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton.runtime.tokenization import TextTokenizer, pair_truncation

pytestmark = pytest.mark.export

MAX_LENGTH = 48


@pytest.fixture(scope="module")
def hf_tokenizer(minilm_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir))


@pytest.fixture(scope="module")
def tokenizer(minilm_dir: Path) -> TextTokenizer:
    return TextTokenizer.from_file(minilm_dir / "tokenizer.json", max_length=MAX_LENGTH, pad_id=0)


def test_matches_transformers_tokenizer_on_real_sentences(
    hf_tokenizer: Any, minilm_dir: Path, corpus_sentences: list[str]
) -> None:
    tokenizer = TextTokenizer.from_file(minilm_dir / "tokenizer.json", max_length=256, pad_id=0)
    texts = corpus_sentences[:64] + ["x " * 400]  # the last one needs truncation
    reference = hf_tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="np")
    ours = tokenizer.encode(texts)
    np.testing.assert_array_equal(ours.input_ids, reference["input_ids"])
    np.testing.assert_array_equal(ours.attention_mask, reference["attention_mask"])
    np.testing.assert_array_equal(ours.token_type_ids, reference["token_type_ids"])


def test_pairs_match_transformers_with_token_types(
    tokenizer: TextTokenizer, hf_tokenizer: Any, corpus_sentences: list[str]
) -> None:
    queries = ["who won the cricket", "fires near sydney"] * 10
    documents = corpus_sentences[:20]  # several longer than MAX_LENGTH: cut on the document side
    ours = tokenizer.encode_pairs(queries, documents)
    reference = hf_tokenizer(
        queries, documents, padding=True, truncation="only_second", max_length=MAX_LENGTH, return_tensors="np"
    )
    np.testing.assert_array_equal(ours.input_ids, reference["input_ids"])
    np.testing.assert_array_equal(ours.attention_mask, reference["attention_mask"])
    np.testing.assert_array_equal(ours.token_type_ids, reference["token_type_ids"])
    assert ours.token_type_ids is not None and ours.token_type_ids.max() == 1  # the document is segment 1


def test_a_long_document_is_cut_and_the_query_kept_whole(tokenizer: TextTokenizer, hf_tokenizer: Any) -> None:
    query = "what is the boiling point of water at sea level in degrees"
    document = "Water boils at one hundred degrees. " * 50
    batch = tokenizer.encode_pairs([query], [document])
    assert int(batch.lengths[0]) == MAX_LENGTH
    query_ids = hf_tokenizer(query, add_special_tokens=False)["input_ids"]
    assert batch.input_ids[0, 1 : 1 + len(query_ids)].tolist() == query_ids


def test_a_query_too_long_to_keep_falls_back_to_longest_first(tokenizer: TextTokenizer, hf_tokenizer: Any) -> None:
    query = "an extremely long query " * 30
    assert pair_truncation(len(hf_tokenizer(query, add_special_tokens=False)["input_ids"]), 3, MAX_LENGTH) == (
        "longest_first"
    )
    batch = tokenizer.encode_pairs([query, "short query"], ["a short document", "another document " * 40])
    reference = [
        hf_tokenizer(query, "a short document", truncation="longest_first", max_length=MAX_LENGTH)["input_ids"],
        hf_tokenizer("short query", "another document " * 40, truncation="only_second", max_length=MAX_LENGTH)[
            "input_ids"
        ],
    ]
    for row, ids in enumerate(reference):
        assert batch.input_ids[row, : len(ids)].tolist() == ids
    # Single texts after pairs: the tokenizer's own truncation is restored.
    assert tokenizer.encode(["word " * 200]).input_ids.shape == (1, MAX_LENGTH)


def test_roberta_style_pairs_use_the_models_own_template(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from tiny_models import build_tiny_model

    folder = build_tiny_model("roberta", "rerank", tmp_path / "roberta")
    hf = AutoTokenizer.from_pretrained(folder)
    ours = TextTokenizer.from_file(
        folder / "tokenizer.json", max_length=32, pad_id=hf.pad_token_id, with_token_type_ids=False
    )
    batch = ours.encode_pairs(["a query"], ["the document text"])
    expected = hf("a query", "the document text")["input_ids"]
    assert batch.input_ids[0].tolist() == expected
    assert expected.count(hf.sep_token_id) == 3  # <s> A </s></s> B </s>
    assert batch.token_type_ids is None
