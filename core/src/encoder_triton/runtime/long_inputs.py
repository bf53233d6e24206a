"""Texts over the model's token limit: which policy a request gets, and how the tokenizer applies it.

A model is exported with a policy (`contract.LongInputs`); a request may ask for another
(`RequestParam.LONG_INPUTS`). A request that only sets `max_length` asks for truncation at that
length, as it always did (keeping the end when the model's policy is truncate_left). The
tokenizer then sets Hugging Face `tokenizers`' own truncation for the call:

    truncate       truncation at the limit, right side; a cut text has `overflowing` pieces
    truncate_left  the same from the left: the end of the text is kept
    error          no truncation; a text over the limit fails its request (see `too_long`)
    chunk          truncation with a stride: the first window and, in `overflowing`, the rest,
                   each with the model's special tokens and `overlap` tokens of its predecessor
                   (rerank pairs: the query whole in every window, the document cut in windows)

Example:
    >>> resolve_policy(None, LongInputs.CHUNK, max_length_given=False).value
    'chunk'
    >>> resolve_policy(None, LongInputs.CHUNK, max_length_given=True).value
    'truncate'
    >>> window_overlap(None, limit=256, room=254)
    32
"""

from __future__ import annotations

from typing import Any

from encoder_triton.contract import LongInputs
from encoder_triton.errors import InvalidTextError

#: Without an exported `chunk_overlap`, neighbouring windows share an eighth of the limit.
DEFAULT_OVERLAP_FRACTION = 8


def resolve_policy(requested: object, exported: LongInputs, *, max_length_given: bool) -> LongInputs:
    """The policy of one request: the one it names, else truncation when it sets max_length, else
    the model's. A value that names no policy is the request's error."""
    if requested is not None:
        try:
            return LongInputs(str(requested))
        except ValueError:
            choices = ", ".join(p.value for p in LongInputs)
            raise InvalidTextError(f"long_inputs must be one of {choices}, got {requested!r}") from None
    if max_length_given:
        return LongInputs.TRUNCATE_LEFT if exported is LongInputs.TRUNCATE_LEFT else LongInputs.TRUNCATE
    return exported


def window_overlap(overlap: int | None, *, limit: int, room: int) -> int:
    """Tokens a window shares with the one before: `overlap` (None: limit / 8), and always
    fewer than `room`, the tokens of text one window holds (`tokenizers` requires it)."""
    wanted = limit // DEFAULT_OVERLAP_FRACTION if overlap is None else overlap
    return max(0, min(wanted, room - 1))


def set_truncation(
    tokenizer: Any, policy: LongInputs, limit: int, *, strategy: str = "longest_first", stride: int = 0
) -> None:
    """Configure `tokenizer` (a `tokenizers.Tokenizer`) for one call under `policy`."""
    if policy is LongInputs.ERROR:
        tokenizer.no_truncation()
    elif policy is LongInputs.TRUNCATE_LEFT:
        tokenizer.enable_truncation(max_length=limit, strategy=strategy, direction="left")
    elif policy is LongInputs.CHUNK:
        tokenizer.enable_truncation(max_length=limit, strategy=strategy, stride=stride)
    else:
        tokenizer.enable_truncation(max_length=limit, strategy=strategy)


def check_room(room: int, limit: int, kind: str) -> None:
    """A window must hold at least one token of text besides the special tokens."""
    if room < 1:
        raise InvalidTextError(
            f"a {kind} window of {limit} tokens leaves no room for text beside the special tokens "
            "(and the query): raise max_length"
        )


def too_long(lengths: list[int], limit: int, *, kind: str, exported_limit: int) -> list[str]:
    """The problem of each row over `limit` tokens, naming the limit and the row's length."""
    whose = "this model's" if limit == exported_limit else "this request's max_length"
    return [
        f"{kind} {i} has {n} tokens, over {whose} limit of {limit} (long_inputs=error): shorten it, "
        "or send long_inputs=truncate, truncate_left or chunk"
        for i, n in enumerate(lengths)
        if n > limit
    ]
