"""Benchmark payloads: real corpora from installed packages, seeded, with a long-tailed length mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder_triton.bench.corpus import (
    CorpusNotFoundError,
    LengthStats,
    TextSampler,
    load_documents,
    load_labelled,
    passages,
    split_sentences,
)


def test_named_corpora_load_real_text() -> None:
    assert len(load_documents("lee")) == 300
    polarity = load_labelled("polarity")
    assert {label for label, _ in polarity} == {"neg", "pos"}
    bbc = load_labelled("bbc")
    assert len(bbc) == 2225
    assert {label for label, _ in bbc} == {"business", "entertainment", "politics", "sports", "tech"}


def test_a_file_is_a_corpus_and_unknown_names_say_what_to_use(tmp_path: Path) -> None:
    corpus = tmp_path / "texts.txt"
    corpus.write_text("First document. It has two sentences.\n\nSecond one.\n")
    assert load_documents(corpus) == ["First document. It has two sentences.", "Second one."]
    with pytest.raises(CorpusNotFoundError, match="use one of lee, polarity, bbc"):
        load_documents("no-such-corpus")


def test_sampler_is_seeded_and_long_tailed() -> None:
    documents = load_documents("lee")
    first = TextSampler(documents, seed=7).texts(500)
    assert first == TextSampler(documents, seed=7).texts(500)
    assert first != TextSampler(documents, seed=8).texts(500)
    words = np.array([len(t.split()) for t in first])
    # Mostly short texts with a tail of long ones, like queries mixed with retrieval chunks.
    assert np.percentile(words, 99) > 3 * np.percentile(words, 50)
    assert words.min() >= 1


def test_passages_have_the_asked_length_in_whole_sentences() -> None:
    texts = passages(load_documents("bbc"), count=120, words=350, seed=0)
    stats = LengthStats.of(texts)
    assert stats.count == 120
    assert 320 <= stats.p50 <= 380
    assert all(t.rstrip().endswith((".", '"', "'", "!", "?")) for t in texts[:20])
    with pytest.raises(ValueError, match="documents have"):
        passages(["too short"], count=1, words=350)


def test_split_sentences() -> None:
    assert split_sentences('He said "Yes." Then left! Why? 3 more.') == [
        'He said "Yes."',
        "Then left!",
        "Why?",
        "3 more.",
    ]
