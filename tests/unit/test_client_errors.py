"""Every tritonclient status maps to our exception tree, by status code only."""

import grpc
import pytest

from encoder_triton.client import (
    ConnectError,
    EncoderError,
    InvalidInputError,
    ModelNotFoundError,
    OverloadedError,
    RequestTimeoutError,
    ServerError,
)
from encoder_triton.client._client import encode_texts
from encoder_triton.client._transport import _GRPC_STATUS, exception_for_status


def test_every_grpc_status_is_mapped() -> None:
    assert {code.name for code in grpc.StatusCode} == set(_GRPC_STATUS)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("StatusCode.INVALID_ARGUMENT", InvalidInputError),
        ("StatusCode.NOT_FOUND", ModelNotFoundError),
        ("StatusCode.UNAVAILABLE", OverloadedError),
        ("StatusCode.DEADLINE_EXCEEDED", RequestTimeoutError),
        ("StatusCode.INTERNAL", ServerError),
        ("400", InvalidInputError),
        ("404", ModelNotFoundError),
        ("408", RequestTimeoutError),
        ("413", InvalidInputError),
        ("429", OverloadedError),
        ("500", ServerError),
        ("503", OverloadedError),
        ("504", RequestTimeoutError),
        (None, ServerError),
        ("garbage", ServerError),
    ],
)
def test_status_mapping(status: str | None, expected: type[EncoderError]) -> None:
    assert exception_for_status(status) is expected


def test_every_http_status_maps_to_a_tree_member() -> None:
    for code in range(100, 600):
        assert issubclass(exception_for_status(str(code)), EncoderError), code


def test_retryable_errors_are_marked() -> None:
    assert ConnectError.retryable and OverloadedError.retryable and RequestTimeoutError.retryable
    assert not InvalidInputError.retryable and not ServerError.retryable


def test_texts_are_sent_as_utf8_rows() -> None:
    rows = encode_texts(["é", "b"])
    assert rows.shape == (2, 1) and rows[0, 0] == "é".encode()
    assert encode_texts("single").shape == (1, 1)


@pytest.mark.parametrize(
    ("texts", "message"), [([], "texts is empty"), ([1], "text 0 has type int"), (5, "texts must")]
)
def test_bad_texts_fail_before_the_network(texts: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        encode_texts(texts)  # type: ignore[arg-type]
