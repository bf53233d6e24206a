"""The client's exceptions: one tree, raised `from` the tritonclient error that caused it.

    EncoderError
    ├── InvalidInputError          the request itself is wrong (empty text, bad UTF-8, too big)
    ├── ModelNotFoundError         no such model is loaded on the server
    ├── TransportError
    │   ├── ConnectError           the server cannot be reached (down, wrong address)
    │   └── RequestTimeoutError    no answer within the timeout
    ├── OverloadedError            the server shed the request (queue full): retry later
    └── ServerError                the server failed while handling a valid request

`retryable` is True for ConnectError, RequestTimeoutError and OverloadedError.
"""

from __future__ import annotations


class EncoderError(Exception):
    """Base of every error the client raises."""

    retryable: bool = False


class InvalidInputError(EncoderError):
    """The request is invalid; the message says what to change."""


class ModelNotFoundError(EncoderError):
    """The model is not loaded on the server."""


class TransportError(EncoderError):
    """The request did not get an answer from the server."""

    retryable = True


class ConnectError(TransportError):
    """The server cannot be reached."""


class RequestTimeoutError(TransportError):
    """The server did not answer within the timeout."""


class OverloadedError(EncoderError):
    """The server rejected the request to protect itself (full queue); retry with backoff."""

    retryable = True


class ServerError(EncoderError):
    """The server failed on a valid request."""
