import numpy as np
import pytest

from encoder_triton.runtime.texts import InvalidTextError, decode_texts


def test_decodes_bytes_and_str_rows_in_order() -> None:
    rows = np.array([[b"caf\xc3\xa9"], ["plain"]], dtype=object)
    assert decode_texts(rows) == ["café", "plain"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (b"", "text 0 is empty"),
        (b" \n\t ", "text 0 is empty"),
        (b"abc\xff", r"text 0 is not valid UTF-8 \(byte 0xff at offset 3\)"),
        (42, "text 0 has type int"),
    ],
)
def test_bad_rows_are_named_with_what_to_do(row: object, message: str) -> None:
    with pytest.raises(InvalidTextError, match=message):
        decode_texts([row])


def test_every_bad_row_is_reported_at_once() -> None:
    with pytest.raises(InvalidTextError) as info:
        decode_texts([b"ok", b"", b"\xff", b"fine", b""])
    assert "text 1 is empty" in str(info.value)
    assert "text 2 is not valid UTF-8" in str(info.value)
    assert "text 4 is empty" in str(info.value)


def test_long_lists_of_bad_rows_are_summarised() -> None:
    with pytest.raises(InvalidTextError, match=r"\(and 5 more\)"):
        decode_texts([b""] * 10)


def test_max_chars_is_checked_before_tokenisation() -> None:
    assert decode_texts([b"12345"], max_chars=5) == ["12345"]
    with pytest.raises(InvalidTextError, match="text 0 has 6 characters, over this model's limit of 5"):
        decode_texts([b"123456"], max_chars=5)
