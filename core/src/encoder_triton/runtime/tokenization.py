"""Tokenisation with Hugging Face `tokenizers`, padded per batch (never to a fixed length).

The exporter saves the model's fast tokenizer as `tokenizer.json`; this module loads it, turns
off its own padding (the shipped all-MiniLM file pads everything to 128) and applies the
exported truncation, so a short text costs a short sequence.

Pairs (rerank: query, document) are tokenised together with the model's own pair template.
Truncation keeps the query whole and cuts the document (`only_second`) whenever the query
leaves room for at least one document token; a query too long for that falls back to
`longest_first`, which trims both (see `pair_truncation`, shared with the PyTorch reference).

A text over the limit gets its request's policy (`long_inputs`: truncate, truncate_left, error
or chunk). Every batch says, per row, whether the model saw the whole text (`truncated`) and
how many windows of it the row holds (`chunks`: laid side by side, see runtime/chunks.py).

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

from encoder_triton.contract import LongInputs
from encoder_triton.runtime.long_inputs import check_room, resolve_policy, set_truncation, too_long, window_overlap
from encoder_triton.runtime.shape_buckets import bucket_for
from encoder_triton.runtime.texts import raise_for_problems


@dataclass(frozen=True)
class TokenBatch:
    """Right-padded token arrays for a batch of texts (int64, shape [rows, longest]).

    `truncated[r]` is 1 when the model does not see all of text r; `chunks[r]` is how many
    windows of text r the row holds, side by side (see runtime/chunks.py). None: one each, whole.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray | None = None
    truncated: np.ndarray | None = None
    chunks: np.ndarray | None = None

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
        long_inputs: LongInputs | None = None,
        chunk_overlap: int | None = None,
    ) -> None:
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = pad_id
        self.with_token_type_ids = with_token_type_ids
        #: The model's policy for texts over `max_length` (`truncate=False`: its older spelling, error).
        self.long_inputs = long_inputs or (LongInputs.TRUNCATE if truncate else LongInputs.ERROR)
        self.chunk_overlap = chunk_overlap
        self._restore_truncation()
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
        long_inputs: LongInputs | None = None,
        chunk_overlap: int | None = None,
    ) -> TextTokenizer:
        from tokenizers import Tokenizer

        return cls(
            Tokenizer.from_file(str(path)),
            max_length=max_length,
            pad_id=pad_id,
            with_token_type_ids=with_token_type_ids,
            truncate=truncate,
            length_buckets=length_buckets,
            long_inputs=long_inputs,
            chunk_overlap=chunk_overlap,
        )

    def encode(self, texts: Sequence[str], *, max_length: int | None = None, long_inputs: object = None) -> TokenBatch:
        """Tokenise `texts` (with the model's special tokens) into one right-padded batch.

        A request's own `max_length` (at most the exported one) is this call's limit, and its
        `long_inputs` (a `LongInputs` value) this call's policy; see runtime/long_inputs.py. Under
        error a text over the limit raises InvalidTextError naming it and its length.
        """
        policy = self.policy(long_inputs, max_length)
        limit = self._request_limit(max_length)
        room = limit - self.single_special_tokens
        if policy is LongInputs.CHUNK:
            check_room(room, limit, "text")
        stride = window_overlap(self.chunk_overlap, limit=limit, room=room)
        try:
            set_truncation(self._tokenizer, policy, limit, stride=stride)
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        finally:
            self._restore_truncation()
        if policy is LongInputs.ERROR:
            raise_for_problems(
                too_long([len(e.ids) for e in encodings], limit, kind="text", exported_limit=self.max_length)
            )
        return self._batch(encodings, [policy is LongInputs.CHUNK] * len(encodings))

    def encode_pairs(
        self,
        queries: Sequence[str],
        texts: Sequence[str],
        *,
        max_length: int | None = None,
        max_text_tokens: int | None = None,
        long_inputs: object = None,
    ) -> TokenBatch:
        """Tokenise (query, text) pairs, row by row, keeping the query whole where it fits.

        A request's `max_length` caps the pair, `max_text_tokens` each text (Cohere's
        `max_tokens_per_doc`): a text is cut after its first that many tokens (its last, under
        truncate_left). Under error a pair over the limit raises InvalidTextError; under chunk
        the document is cut in windows, each paired with the whole query (a query that leaves
        no room is truncated with the document instead).
        """
        if len(queries) != len(texts):
            raise ValueError(f"{len(queries)} queries for {len(texts)} texts: pass one query per text")
        policy = self.policy(long_inputs, max_length)
        cut = [False] * len(texts)
        if max_text_tokens is not None:
            texts, cut = self._cut(texts, max_text_tokens, keep_end=policy is LongInputs.TRUNCATE_LEFT)
        pairs = list(zip(queries, texts, strict=True))
        limit = self._request_limit(max_length)
        if policy is LongInputs.ERROR:
            try:
                set_truncation(self._tokenizer, policy, limit)
                untruncated = self._tokenizer.encode_batch(pairs, add_special_tokens=True)
            finally:
                self._restore_truncation()
            lengths = [len(e.ids) for e in untruncated]
            raise_for_problems(too_long(lengths, limit, kind="pair", exported_limit=self.max_length))
            return self._batch(untruncated, cut=cut)
        query_lengths = [len(e.ids) for e in self._tokenizer.encode_batch(list(queries), add_special_tokens=False)]
        pair_specials = self.pair_special_tokens
        # Rows tokenise in groups that share a truncation: its strategy and, under chunk, the
        # overlap that fits beside the query.
        settings = []
        for n in query_lengths:
            strategy = pair_truncation(n, pair_specials, limit)
            room = limit - n - pair_specials
            chunked = policy is LongInputs.CHUNK and strategy == "only_second"
            stride = window_overlap(self.chunk_overlap, limit=limit, room=room) if chunked else 0
            settings.append((strategy, stride))
        encodings: list[Any] = [None] * len(pairs)
        windowed = [policy is LongInputs.CHUNK and strategy == "only_second" for strategy, _ in settings]
        try:
            for strategy, stride in sorted(set(settings)):
                rows = [i for i, s in enumerate(settings) if s == (strategy, stride)]
                # A query too long to leave the document room is truncated with it, never chunked.
                row_policy = LongInputs.TRUNCATE if policy is LongInputs.CHUNK and strategy != "only_second" else policy
                set_truncation(self._tokenizer, row_policy, limit, strategy=strategy, stride=stride)
                done = self._tokenizer.encode_batch([pairs[i] for i in rows], add_special_tokens=True)
                for row, encoding in zip(rows, done, strict=True):
                    encodings[row] = encoding
        finally:
            self._restore_truncation()
        return self._batch(encodings, windowed, cut)

    def policy(self, long_inputs: object, max_length: int | None) -> LongInputs:
        """The policy of one call (see `long_inputs.resolve_policy`)."""
        return resolve_policy(long_inputs, self.long_inputs, max_length_given=max_length is not None)

    def cut_texts(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """Each text cut after its first `max_tokens` tokens (special tokens not counted), at
        the character where that token ends, so the model sees those tokens and no more."""
        return self._cut(texts, max_tokens, keep_end=False)[0]

    def _cut(self, texts: Sequence[str], max_tokens: int, *, keep_end: bool) -> tuple[list[str], list[bool]]:
        """`cut_texts`, or with `keep_end` each text's last `max_tokens` tokens; and which were cut."""
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self._tokenizer.no_truncation()
        try:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        finally:
            self._restore_truncation()
        out, cut = [], []
        for text, e in zip(texts, encodings, strict=True):
            over = len(e.offsets) > max_tokens
            cut.append(over)
            if not over:
                out.append(text)
            elif keep_end:
                out.append(text[e.offsets[-max_tokens][0] :])
            else:
                out.append(text[: e.offsets[max_tokens - 1][1]])
        return out, cut

    def _request_limit(self, max_length: int | None) -> int:
        """The token limit of one call: the request's, at most the exported one."""
        if max_length is None:
            return self.max_length
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        return min(max_length, self.max_length)

    def _restore_truncation(self) -> None:
        # The exported policy at the exported limit (chunk's first window is a plain truncation).
        policy = LongInputs.TRUNCATE if self.long_inputs is LongInputs.CHUNK else self.long_inputs
        set_truncation(self._tokenizer, policy, self.max_length)

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

    def words(self, ids: Sequence[int]) -> list[str]:
        """Each token id decoded on its own (what BGE-M3's `convert_id_to_token` shows)."""
        return [self._tokenizer.decode([int(i)]) for i in ids]

    @property
    def pair_special_tokens(self) -> int:
        """How many special tokens the model's template adds around a pair."""
        processor = self._tokenizer.post_processor
        return 0 if processor is None else int(processor.num_special_tokens_to_add(True))

    @property
    def single_special_tokens(self) -> int:
        """How many special tokens the model's template adds around one text."""
        processor = self._tokenizer.post_processor
        return 0 if processor is None else int(processor.num_special_tokens_to_add(False))

    def _batch(self, encodings: Sequence[Any], windowed: Sequence[bool] = (), cut: Sequence[bool] = ()) -> TokenBatch:
        """The batch. A `windowed` row (chunk) holds its windows side by side at one stride (the
        longest window), so the width is that stride times the most windows of any row; a batch
        whose texts all fit is laid out as one window per row, padded to the longest. Any other
        row with overflowing pieces was truncated, as was one `cut` before tokenisation."""
        rows = len(encodings)
        windowed = windowed or [False] * rows
        windows = [[e, *e.overflowing] if w else [e] for e, w in zip(encodings, windowed, strict=True)]
        stride = max((len(w.ids) for row in windows for w in row), default=0)
        most = max((len(row) for row in windows), default=1)
        width = stride * most
        if self.length_buckets and most == 1:
            width = bucket_for(width, self.length_buckets)
        ids = np.full((rows, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((rows, width), dtype=np.int64)
        types = np.zeros((rows, width), dtype=np.int64) if self.with_token_type_ids else None
        for row, row_windows in enumerate(windows):
            for index, window in enumerate(row_windows):
                start = index * stride
                end = start + len(window.ids)
                ids[row, start:end] = window.ids
                mask[row, start:end] = 1
                if types is not None:
                    types[row, start:end] = window.type_ids
        cut = cut or [False] * rows
        truncated = [(not w and bool(e.overflowing)) or c for e, w, c in zip(encodings, windowed, cut, strict=True)]
        return TokenBatch(
            input_ids=ids,
            attention_mask=mask,
            token_type_ids=types,
            truncated=np.array(truncated, dtype=np.int64),
            chunks=np.array([len(row) for row in windows], dtype=np.int64),
        )
