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
    encoder_triton.errors.InvalidTextError: text 0 is empty: send at least one non-whitespace character per text
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from encoder_triton.errors import InvalidTextError

#: How many bad rows one error message names before it summarises the rest.
_MAX_NAMED_ROWS = 5


def decode_texts(rows: Iterable[object] | np.ndarray, *, max_chars: int | None = None, kind: str = "text") -> list[str]:
    """Turn the rows of a BYTES tensor (shape [N] or [N, 1]) into validated `str`.

    Raises InvalidTextError naming every bad row (up to a few) at once, so a client fixes its
    batch in one round trip. `max_chars` caps a text's length before tokenisation; `kind` names
    the rows in messages ("query 0 is empty").
    """
    flat = np.asarray(rows, dtype=object).reshape(-1)
    texts: list[str] = []
    problems: list[str] = []
    for index, value in enumerate(flat):
        text, problem = _decode_one(value)
        if not problem and max_chars is not None and len(text) > max_chars:
            problem = (
                f"has {len(text):,} characters, over this model's limit of {max_chars:,}: "
                "split it, or export with a higher --max-chars"
            )
        if problem:
            problems.append(f"{kind} {index} {problem}")
        else:
            texts.append(text)
    raise_for_problems(problems)
    return texts


def raise_for_problems(problems: list[str]) -> None:
    """Raise one InvalidTextError naming the first few problems (no-op when there are none)."""
    if not problems:
        return
    named = problems[:_MAX_NAMED_ROWS]
    more = len(problems) - len(named)
    suffix = f" (and {more} more)" if more else ""
    raise InvalidTextError("; ".join(named) + suffix)


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
