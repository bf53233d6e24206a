"""The client against a real embedded Triton: sync and async, HTTP and gRPC, big inputs, failures."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton.client import AsyncEncoderClient, ConnectError, EncoderClient, EncoderError

pytestmark = pytest.mark.triton

PROTOCOLS = ["grpc", "http"]


def _url(server: Any, protocol: str) -> str:
    return server.endpoints.grpc if protocol == "grpc" else server.endpoints.http


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_async_client_equals_sync_client(minilm_server: Any, corpus_sentences: list[str], protocol: str) -> None:
    texts = corpus_sentences[:100]
    with EncoderClient(_url(minilm_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        expected = client.embed(texts, model="minilm").vectors

    async def main() -> np.ndarray:
        async with AsyncEncoderClient(_url(minilm_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
            assert await client.health()
            return (await client.embed(texts, model="minilm")).vectors

    np.testing.assert_allclose(asyncio.run(main()), expected, atol=2e-5)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_models_and_limits_come_from_the_server(minilm_server: Any, protocol: str) -> None:
    with EncoderClient(_url(minilm_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        models = client.models()
    assert [m.name for m in models] == ["minilm"]
    info = models[0]
    assert (info.task, info.dimension, info.max_length, info.max_batch_size) == ("embed", 384, 256, 64)
    assert info.normalized and info.truncation


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ten_thousand_texts_in_one_call_come_back_complete_and_in_order(minilm_server: Any, protocol: str) -> None:
    # Over HTTP the client's four worker threads each get their own (gevent) tritonclient.
    texts = [f"item number {i} of the catalogue" for i in range(10_000)]
    with EncoderClient(_url(minilm_server, protocol), protocol=protocol, max_concurrency=4) as client:  # type: ignore[arg-type]
        result = client.embed(texts, model="minilm")
        assert result.vectors.shape == (10_000, 384)
        probes = np.random.default_rng(7).choice(10_000, size=40, replace=False)
        singles = np.concatenate([client.embed([texts[i]], model="minilm").vectors for i in probes])
    np.testing.assert_allclose(result.vectors[probes], singles, atol=2e-5)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_server_stopped_mid_call_is_a_connection_error_not_a_hang(minilm_repo: Path, protocol: str) -> None:
    from encoder_triton.server.embedded import EmbeddedTriton

    server = EmbeddedTriton(minilm_repo, exit_timeout_s=2)
    server.start()
    outcome: list[BaseException | str] = []
    texts = [f"a sentence to keep the server busy, number {i}" for i in range(20_000)]

    def call() -> None:
        try:
            with EncoderClient(_url(server, protocol), protocol=protocol, timeout=30) as client:  # type: ignore[arg-type]
                client.embed(texts, model="minilm")
            outcome.append("finished")
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(2.0)
    started = time.monotonic()
    server.stop()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the client hung after the server stopped"
    assert time.monotonic() - started < 60
    assert len(outcome) == 1 and isinstance(outcome[0], EncoderError), outcome
    assert isinstance(outcome[0], ConnectError), repr(outcome[0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_usage_counts_the_tokens_the_model_saw(minilm_server: Any, minilm_dir: Path, protocol: str) -> None:
    from transformers import AutoTokenizer

    texts = ["a short one", "a somewhat longer sentence about Triton's dynamic batcher", "x " * 400]
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir))
    expected = sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=256)["input_ids"])
    with EncoderClient(_url(minilm_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        assert client.model_info("minilm").reports_tokens
        assert client.embed(texts, model="minilm").prompt_tokens == expected
        split = EncoderClient(_url(minilm_server, protocol), protocol=protocol)  # type: ignore[arg-type]
        assert split.embed(texts * 30, model="minilm").prompt_tokens == expected * 30  # 90 texts: two requests
        split.close()
