"""Tokenisation with Hugging Face `tokenizers`, padded per batch (never to a fixed length).

The exporter saves the model's fast tokenizer as `tokenizer.json`; this module loads it, turns
off its own padding (the shipped all-MiniLM file pads everything to 128) and applies the
exported truncation, so a short text costs a short sequence.

Pairs (rerank: query, document) are tokenised together with the model's own pair template.
Truncation keeps the query whole and cuts the document (`only_second`) whenever the query
leaves room for at least one document token; a query too long for that falls back to
`longest_first`, which trims both (see `pair_truncation`, shared with the PyTorch reference).

Example:
    >>> tok = TextTokenizer.from_file("tokenizer.json", max_length=256, pad_id=0)  # doctest: +SKIP
    >>> batch = tok.encode(["a short text", "another one"])  # doctest: +SKIP
    >>> batch.input_ids.shape  # doctest: +SKIP
    (2, 5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton.runtime.shape_buckets import bucket_for
from encoder_triton.runtime.texts import raise_for_problems


@dataclass(frozen=True)
class TokenBatch:
    """Right-padded token arrays for a batch of texts (int64, shape [rows, longest])."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray | None = None

    @property
    def lengths(self) -> np.ndarray:
        """Real (unpadded) length of each row."""
        return self.attention_mask.sum(axis=1)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by their contract names, token_type_ids only when present."""
        out = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.token_type_ids is not None:
            out["token_type_ids"] = self.token_type_ids
        return out

    def take(self, rows: np.ndarray | Sequence[int]) -> TokenBatch:
        """The given rows, trimmed to the longest of them (so padding shrinks with the batch)."""
        index = np.asarray(rows, dtype=np.int64)
        width = max(int(self.lengths[index].max()), 1) if len(index) else 1
        types = self.token_type_ids
        return TokenBatch(
            input_ids=self.input_ids[index, :width],
            attention_mask=self.attention_mask[index, :width],
            token_type_ids=None if types is None else types[index, :width],
        )

    @classmethod
    def concat(cls, batches: Sequence[TokenBatch], pad_id: int) -> TokenBatch:
        """Stack batches of different widths into one, padding to the widest."""
        width = max(b.input_ids.shape[1] for b in batches)
        has_types = batches[0].token_type_ids is not None

        def stack(get: Any, fill: int) -> np.ndarray:
            return np.concatenate([_pad_columns(get(b), width, fill) for b in batches])

        return cls(
            input_ids=stack(lambda b: b.input_ids, pad_id),
            attention_mask=stack(lambda b: b.attention_mask, 0),
            token_type_ids=stack(lambda b: b.token_type_ids, 0) if has_types else None,
        )


def pair_truncation(query_tokens: int, pair_special_tokens: int, max_length: int) -> str:
    """`only_second` when the query and the pair's special tokens leave room for at least one
    document token, else `longest_first` (a query that long must be cut too)."""
    return "only_second" if query_tokens + pair_special_tokens < max_length else "longest_first"


def _pad_columns(array: np.ndarray, width: int, fill: int) -> np.ndarray:
    missing = width - array.shape[1]
    if missing == 0:
        return array
    return np.pad(array, ((0, 0), (0, missing)), constant_values=fill)


class TextTokenizer:
    """A fast tokenizer that truncates to `max_length` and pads each batch to its longest row."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        max_length: int,
        pad_id: int,
        with_token_type_ids: bool = True,
        truncate: bool = True,
        length_buckets: Sequence[int] = (),
    ) -> None:
        tokenizer.no_padding()
        if truncate:
            tokenizer.enable_truncation(max_length=max_length)
        else:
            tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = pad_id
        self.with_token_type_ids = with_token_type_ids
        self.truncate = truncate
        # Native backends take no ragged inputs: padding up to a bucket lets the dynamic
        # batcher merge requests of different lengths (see shape_buckets).
        self.length_buckets = tuple(length_buckets)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        max_length: int,
        pad_id: int,
        with_token_type_ids: bool = True,
        truncate: bool = True,
        length_buckets: Sequence[int] = (),
    ) -> TextTokenizer:
        from tokenizers import Tokenizer

        return cls(
            Tokenizer.from_file(str(path)),
            max_length=max_length,
            pad_id=pad_id,
            with_token_type_ids=with_token_type_ids,
            truncate=truncate,
            length_buckets=length_buckets,
        )

    def encode(self, texts: Sequence[str], *, max_length: int | None = None) -> TokenBatch:
        """Tokenise `texts` (with the model's special tokens) into one right-padded batch.

        With truncation off, a text over `max_length` tokens raises InvalidTextError. A
        request's own `max_length` (at most the exported one) truncates this call only.
        """
        if max_length is None:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
            self._check_lengths(encodings, "text")
            return self._batch(encodings)
        try:
            self._tokenizer.enable_truncation(max_length=self._request_limit(max_length))
            return self._batch(self._tokenizer.encode_batch(list(texts), add_special_tokens=True))
        finally:
            self._restore_truncation()

    def encode_pairs(
        self,
        queries: Sequence[str],
        texts: Sequence[str],
        *,
        max_length: int | None = None,
        max_text_tokens: int | None = None,
    ) -> TokenBatch:
        """Tokenise (query, text) pairs, row by row, keeping the query whole where it fits.

        With truncation off, a pair over `max_length` tokens raises InvalidTextError. A
        request's `max_length` caps the pair, `max_text_tokens` each text (Cohere's
        `max_tokens_per_doc`): a text is cut after its first that many tokens.
        """
        if len(queries) != len(texts):
            raise ValueError(f"{len(queries)} queries for {len(texts)} texts: pass one query per text")
        if max_text_tokens is not None:
            texts = self.cut_texts(texts, max_text_tokens)
        pairs = list(zip(queries, texts, strict=True))
        limit = self._request_limit(max_length)
        if limit is None:
            untruncated = self._tokenizer.encode_batch(pairs, add_special_tokens=True)
            self._check_lengths(untruncated, "pair")
            return self._batch(untruncated)
        query_lengths = [len(e.ids) for e in self._tokenizer.encode_batch(list(queries), add_special_tokens=False)]
        pair_specials = self.pair_special_tokens
        strategies = [pair_truncation(n, pair_specials, limit) for n in query_lengths]
        encodings: list[Any] = [None] * len(pairs)
        try:
            for strategy in sorted(set(strategies)):
                rows = [i for i, s in enumerate(strategies) if s == strategy]
                self._tokenizer.enable_truncation(max_length=limit, strategy=strategy)
                done = self._tokenizer.encode_batch([pairs[i] for i in rows], add_special_tokens=True)
                for row, encoding in zip(rows, done, strict=True):
                    encodings[row] = encoding
        finally:
            self._restore_truncation()
        return self._batch(encodings)

    def cut_texts(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """Each text cut after its first `max_tokens` tokens (special tokens not counted), at
        the character where that token ends, so the model sees those tokens and no more."""
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self._tokenizer.no_truncation()
        try:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        finally:
            self._restore_truncation()
        return [
            text if len(e.offsets) <= max_tokens else text[: e.offsets[max_tokens - 1][1]]
            for text, e in zip(texts, encodings, strict=True)
        ]

    def _request_limit(self, max_length: int | None) -> int | None:
        """The truncation length of one call: the request's, at most the exported limit;
        None means the exported behaviour (which may be no truncation at all)."""
        if max_length is None:
            return self.max_length if self.truncate else None
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        return min(max_length, self.max_length)

    def _restore_truncation(self) -> None:
        if self.truncate:
            self._tokenizer.enable_truncation(max_length=self.max_length)
        else:
            self._tokenizer.no_truncation()

    @property
    def vocab_size(self) -> int:
        """How many token ids the tokenizer knows (ids from 0 up to this, exclusive)."""
        return int(self._tokenizer.get_vocab_size(with_added_tokens=True))

    def encodings(self, texts: Sequence[str], *, add_special_tokens: bool = True) -> list[Any]:
        """The tokenizer's own `Encoding` of each text (ids, tokens, offsets, special-token
        mask), untruncated and unpadded: what a /tokenize endpoint shows."""
        self._tokenizer.no_truncation()
        try:
            return list(self._tokenizer.encode_batch(list(texts), add_special_tokens=add_special_tokens))
        finally:
            self._restore_truncation()

    @property
    def pair_special_tokens(self) -> int:
        """How many special tokens the model's template adds around a pair."""
        processor = self._tokenizer.post_processor
        return 0 if processor is None else int(processor.num_special_tokens_to_add(True))

    def _check_lengths(self, encodings: Sequence[Any], kind: str) -> None:
        if self.truncate:
            return
        raise_for_problems(
            [
                f"{kind} {i} has {len(e.ids)} tokens, over this model's limit of {self.max_length} "
                "(truncation is off): shorten it"
                for i, e in enumerate(encodings)
                if len(e.ids) > self.max_length
            ]
        )

    def _batch(self, encodings: Sequence[Any]) -> TokenBatch:
        width = max((len(e.ids) for e in encodings), default=0)
        if self.length_buckets:
            width = bucket_for(width, self.length_buckets)
        rows = len(encodings)
        ids = np.full((rows, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((rows, width), dtype=np.int64)
        types = np.zeros((rows, width), dtype=np.int64) if self.with_token_type_ids else None
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
            if types is not None:
                types[row, :n] = encoding.type_ids
        return TokenBatch(input_ids=ids, attention_mask=mask, token_type_ids=types)
