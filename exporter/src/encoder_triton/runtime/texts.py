"""Decoding and validating the texts of one request.

Triton hands a BYTES tensor to the tokenizer model; each row must be non-empty UTF-8. A bad
row fails its own request with a message that names the row and says what to send instead;
the other requests of the same dynamic batch are unaffected (see `triton_backend`).

Example:
    >>> decode_texts([b"a", "b".encode()])
    ['a', 'b']
    >>> decode_texts([b""])
    Traceback (most recent call last):
    ...
    encoder_triton.runtime.texts.InvalidTextError: text 0 is empty: send at least one non-whitespace character per text
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: How many bad rows one error message names before it summarises the rest.
_MAX_NAMED_ROWS = 5


class InvalidTextError(ValueError):
    """A request carried a text that cannot be encoded; the message says which and why."""


def decode_texts(rows: Iterable[object] | np.ndarray) -> list[str]:
    """Turn the rows of a BYTES tensor (shape [N] or [N, 1]) into validated `str`.

    Raises InvalidTextError naming every bad row (up to a few) at once, so a client fixes its
    batch in one round trip.
    """
    flat = np.asarray(rows, dtype=object).reshape(-1)
    texts: list[str] = []
    problems: list[str] = []
    for index, value in enumerate(flat):
        text, problem = _decode_one(value)
        if problem:
            problems.append(f"text {index} {problem}")
        else:
            texts.append(text)
    if problems:
        named = problems[:_MAX_NAMED_ROWS]
        more = len(problems) - len(named)
        suffix = f" (and {more} more)" if more else ""
        raise InvalidTextError("; ".join(named) + suffix)
    return texts


def _decode_one(value: object) -> tuple[str, str]:
    if isinstance(value, bytes | np.bytes_):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = bytes(value)[exc.start : exc.start + 1].hex()
            return "", (
                f"is not valid UTF-8 (byte 0x{bad} at offset {exc.start}): encode texts as UTF-8 before sending"
            )
    elif isinstance(value, str):
        text = value
    else:
        return "", f"has type {type(value).__name__}: send strings"
    if not text.strip():
        return "", "is empty: send at least one non-whitespace character per text"
    return text, ""
