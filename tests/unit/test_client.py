"""EncoderClient / AsyncEncoderClient logic on a fake transport (the seam; no server)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.client import (
    AsyncEncoderClient,
    EncoderClient,
    InvalidInputError,
    ModelInfo,
    OverloadedError,
    RetryPolicy,
)


def _config(name: str = "m", max_batch_size: int = 4, normalized: bool = True) -> dict[str, Any]:
    params = {
        contract.Param.TASK: "embed",
        contract.Param.DIMENSION: "3",
        contract.Param.MAX_LENGTH: "16",
        contract.Param.NORMALIZED: str(normalized).lower(),
        contract.Param.LABELS: json.dumps(["a", "b"]),
    }
    return {
        "name": name,
        "max_batch_size": max_batch_size,
        "parameters": {k: {"string_value": v} for k, v in params.items()},
    }


class FakeTransport:
    """Embeds text i as the unit vector of (len(text), i-th char code, 1); can fail on demand."""

    def __init__(self, failures: list[Exception] | None = None, max_batch_size: int = 4) -> None:
        self.failures = list(failures or [])
        self.batches: list[int] = []
        self.max_batch_size = max_batch_size
        self.lock = threading.Lock()
        self.closed = False

    def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        with self.lock:
            if self.failures:
                raise self.failures.pop(0)
            self.batches.append(len(inputs[contract.TEXT]))
        rows = [bytes(r[0]) for r in inputs[contract.TEXT]]
        vectors = np.array([[len(r), r[0], 1.0] for r in rows], dtype=np.float32)
        return {contract.EMBEDDING: vectors / np.linalg.norm(vectors, axis=1, keepdims=True)}

    def infer_many(
        self, model: str, requests: list[dict[str, np.ndarray]], outputs: list[str], max_concurrency: int
    ) -> list[Any]:
        from encoder_triton.client import EncoderError

        results: list[Any] = []
        for inputs in requests:
            try:
                results.append(self.infer(model, inputs, outputs))
            except EncoderError as exc:
                results.append(exc)
        return results

    def model_config(self, model: str) -> dict[str, Any]:
        if model.endswith("_encoder"):  # a component: no exporter parameters for clients
            return {"name": model, "max_batch_size": self.max_batch_size}
        return _config(model, self.max_batch_size)

    def model_names(self) -> list[str]:
        return ["m", "m_encoder"]

    def is_ready(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class AsyncFake:
    def __init__(self, sync: FakeTransport) -> None:
        self.sync = sync

    async def infer(self, *args: Any) -> dict[str, np.ndarray]:
        await asyncio.sleep(0)
        return self.sync.infer(*args)

    async def model_config(self, model: str) -> dict[str, Any]:
        return self.sync.model_config(model)

    async def model_names(self) -> list[str]:
        return self.sync.model_names()

    async def is_ready(self) -> bool:
        return True

    async def close(self) -> None:
        self.sync.close()


TEXTS = [f"{chr(97 + i % 26)}{'x' * (i % 7)}" for i in range(23)]


def _expected(texts: list[str]) -> np.ndarray:
    return FakeTransport().infer("m", {contract.TEXT: np.array([[t.encode()] for t in texts], dtype=object)}, [])[
        contract.EMBEDDING
    ]


def test_big_inputs_are_split_by_the_models_max_batch_and_reassembled_in_order() -> None:
    transport = FakeTransport(max_batch_size=4)
    with EncoderClient(transport=transport, max_concurrency=3) as client:
        result = client.embed(TEXTS, model="m")
    assert sorted(transport.batches) == [3, 4, 4, 4, 4, 4]
    np.testing.assert_allclose(result.vectors, _expected(TEXTS))
    assert transport.closed


def test_model_info_is_read_from_the_server_and_components_are_not_models() -> None:
    with EncoderClient(transport=FakeTransport()) as client:
        info = client.model_info("m")
        assert info == ModelInfo(
            name="m", task="embed", max_batch_size=4, dimension=3, max_length=16, normalized=True, labels=("a", "b")
        )
        assert [m.name for m in client.models()] == ["m"]


def test_dimensions_truncate_and_renormalise() -> None:
    with EncoderClient(transport=FakeTransport()) as client:
        result = client.embed(["abc", "de"], model="m", dimensions=2)
    assert result.dimension == 2
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-6)
    with EncoderClient(transport=FakeTransport()) as client, pytest.raises(InvalidInputError, match="dimensions"):
        client.embed(["abc"], model="m", dimensions=9)


def test_retryable_errors_are_retried_with_backoff_and_others_are_not() -> None:
    transport = FakeTransport(failures=[OverloadedError("full"), OverloadedError("full")])
    with EncoderClient(transport=transport, retries=RetryPolicy(retries=2, backoff_s=0.001)) as client:
        assert len(client.embed(["a"], model="m")) == 1
    transport = FakeTransport(failures=[OverloadedError("full")])
    with EncoderClient(transport=transport) as client, pytest.raises(OverloadedError):
        client.embed(["a"], model="m")
    transport = FakeTransport(failures=[InvalidInputError("text 0 is empty")])
    with EncoderClient(transport=transport, retries=3) as client, pytest.raises(InvalidInputError):
        client.embed(["a"], model="m")
    assert transport.batches == []


def test_an_error_in_a_split_request_names_the_slice_it_is_about() -> None:
    transport = FakeTransport(failures=[InvalidInputError("text 1 is empty")])
    with EncoderClient(transport=transport, max_concurrency=1) as client:
        with pytest.raises(InvalidInputError, match=r"texts\[0:4\]: text 1 is empty"):
            client.embed(TEXTS, model="m")


def test_task_mismatch_is_an_invalid_input() -> None:
    class Classifier(FakeTransport):
        def model_config(self, model: str) -> dict[str, Any]:
            config = _config(model)
            config["parameters"][contract.Param.TASK] = {"string_value": "classify"}
            return config

    with EncoderClient(transport=Classifier()) as client, pytest.raises(InvalidInputError, match="serves task"):
        client.embed(["a"], model="m")


def test_async_client_matches_the_sync_one() -> None:
    async def main() -> np.ndarray:
        async with AsyncEncoderClient(transport=AsyncFake(FakeTransport()), max_concurrency=2) as client:
            assert await client.health()
            assert [m.name for m in await client.models()] == ["m"]
            return (await client.embed(TEXTS, model="m")).vectors

    np.testing.assert_allclose(asyncio.run(main()), _expected(TEXTS))


def test_lone_surrogates_reach_the_server_as_invalid_utf8_not_a_client_crash() -> None:
    from encoder_triton.client._client import encode_texts

    assert encode_texts(["\ud800"])[0, 0] == b"\xed\xa0\x80"
