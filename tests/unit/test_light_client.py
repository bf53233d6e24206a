"""`import encoder_triton.client` stays light: checked in a fresh interpreter."""

import subprocess
import sys

HEAVY = ("torch", "transformers", "onnxruntime", "tokenizers", "optimum", "onnx", "sentence_transformers")


def test_client_import_pulls_in_no_heavy_module() -> None:
    code = (
        "import sys, encoder_triton.client, encoder_triton.contract\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_are_sorted_and_exported() -> None:
    import encoder_triton.client as client

    assert client.__all__ == sorted(client.__all__)
    assert all(hasattr(client, name) for name in client.__all__)
    assert set(client.__all__) == {
        *("EncoderClient", "AsyncEncoderClient", "MockTransport", "AsyncMockTransport", "RetryPolicy"),
        *("Embeddings", "Classification", "RerankResult", "ModelInfo", "SparseEmbedding"),
        *("EncoderError", "InvalidInputError", "ModelNotFoundError", "TransportError", "ConnectError"),
        *("RequestTimeoutError", "OverloadedError", "ServerError"),
    }, "a public name was added or removed: update this list and the README on purpose"


def test_the_client_modules_docstring_examples_run() -> None:
    import doctest
    import importlib
    import pkgutil

    import encoder_triton.client as client

    names = ["encoder_triton.client"] + [
        m.name for m in pkgutil.walk_packages(client.__path__, "encoder_triton.client.")
    ]
    attempted = 0
    for name in names:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted >= 20
