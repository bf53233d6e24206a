"""Running Triton: the embedded server from the `nvidia-pytriton` wheel.

Example:
    >>> from encoder_triton.server.embedded import EmbeddedTriton  # doctest: +SKIP
    >>> with EmbeddedTriton("model_repository") as triton:  # doctest: +SKIP
    ...     triton.endpoints.grpc
"""
