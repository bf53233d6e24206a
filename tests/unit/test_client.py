"""EncoderClient / AsyncEncoderClient planning, concurrency and retries, on the shipped MockTransport."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.client import (
    AsyncEncoderClient,
    AsyncMockTransport,
    EncoderClient,
    InvalidInputError,
    MockTransport,
    ModelInfo,
    ModelNotFoundError,
    OverloadedError,
    RetryPolicy,
    ServerError,
)
from encoder_triton.client._tasks import encode_texts

TEXTS = [f"{chr(97 + i % 26)}{'x' * (i % 7)}" for i in range(23)]


def _configs(max_batch_size: int = 4, task: str = "embed") -> list[dict[str, Any]]:
    ensemble = MockTransport.ensemble_config(
        "m", task=task, max_batch_size=max_batch_size, dimension=3, normalized=True, labels=["a", "b"],
        parameters={contract.Param.MAX_LENGTH: "16"},
    )  # fmt: skip
    component = {"name": "m_encoder", "max_batch_size": max_batch_size}  # no exporter parameters for clients
    return [ensemble, component]


def embed_rows(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    """Embeds text t as the unit vector of (len(t), code of its first byte, 1)."""
    rows = [bytes(r[0]) for r in inputs[contract.TEXT]]
    vectors = np.array([[len(r), r[0], 1.0] for r in rows], dtype=np.float32)
    return {contract.EMBEDDING: vectors / np.linalg.norm(vectors, axis=1, keepdims=True)}


EXPECTED = embed_rows("m", {contract.TEXT: encode_texts(TEXTS)}, [])[contract.EMBEDDING]


class Recorder:
    """A handler that records each request's first row and size, fails on demand, and can wait."""

    def __init__(self, failures: dict[bytes, list[Exception]] | None = None, delay_s: float = 0.0) -> None:
        self.failures = failures or {}  # first text of a request -> errors to raise, in turn
        self.delay_s = delay_s
        self.sent: list[tuple[bytes, int]] = []
        self.threads: set[str] = set()
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()

    def __call__(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        first = bytes(inputs[contract.TEXT][0, 0])
        with self.lock:
            self.sent.append((first, len(inputs[contract.TEXT])))
            self.threads.add(threading.current_thread().name)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            failure = self.failures[first].pop(0) if self.failures.get(first) else None
        try:
            time.sleep(self.delay_s)
            if failure is not None:
                raise failure
            return embed_rows(model, inputs, outputs)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_big_inputs_are_split_by_the_models_max_batch_and_reassembled_in_order() -> None:
    recorder = Recorder()
    transport = MockTransport(recorder, _configs(max_batch_size=4))
    with EncoderClient(transport=transport, max_concurrency=3) as client:
        result = client.embed(TEXTS, model="m")
    assert sorted(size for _, size in recorder.sent) == [3, 4, 4, 4, 4, 4]
    np.testing.assert_allclose(result.vectors, EXPECTED)
    assert transport.closed


def test_the_sync_client_runs_chunks_on_its_own_bounded_thread_pool() -> None:
    recorder = Recorder(delay_s=0.02)
    with EncoderClient(transport=MockTransport(recorder, _configs(max_batch_size=2)), max_concurrency=3) as client:
        result = client.embed(TEXTS, model="m")  # 12 requests
        np.testing.assert_allclose(result.vectors, EXPECTED)
        assert recorder.most_in_flight == 3
        assert all(name.startswith("encoder-triton") for name in recorder.threads)
        recorder.threads.clear()
        client.embed(TEXTS[:2], model="m")  # one request: sent from the caller's thread
        assert recorder.threads == {threading.current_thread().name}


def test_model_info_is_read_from_the_server_and_components_are_not_models() -> None:
    with EncoderClient(transport=MockTransport(embed_rows, _configs())) as client:
        info = client.model_info("m")
        assert info == ModelInfo(
            name="m", task="embed", max_batch_size=4, dimension=3, max_length=16, normalized=True, labels=("a", "b")
        )
        assert [m.name for m in client.models()] == ["m"]
        with pytest.raises(ModelNotFoundError, match="nope"):
            client.embed(["a"], model="nope")


def test_dimensions_truncate_and_renormalise() -> None:
    with EncoderClient(transport=MockTransport(embed_rows, _configs())) as client:
        result = client.embed(["abc", "de"], model="m", dimensions=2)
        assert result.dimension == 2
        np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-6)
        with pytest.raises(InvalidInputError, match="dimensions"):
            client.embed(["abc"], model="m", dimensions=9)


def test_retryable_errors_are_retried_with_backoff_and_others_are_not() -> None:
    recorder = Recorder({b"a": [OverloadedError("full"), OverloadedError("full")]})
    policy = RetryPolicy(retries=2, backoff_s=0.001)
    with EncoderClient(transport=MockTransport(recorder, _configs()), retries=policy) as client:
        assert len(client.embed(["a"], model="m")) == 1
    assert len(recorder.sent) == 3
    recorder = Recorder({b"a": [OverloadedError("full")]})
    with EncoderClient(transport=MockTransport(recorder, _configs())) as client, pytest.raises(OverloadedError):
        client.embed(["a"], model="m")
    recorder = Recorder({b"a": [InvalidInputError("text 0 is empty")]})
    with EncoderClient(transport=MockTransport(recorder, _configs()), retries=3) as client:
        with pytest.raises(InvalidInputError):
            client.embed(["a"], model="m")
    assert len(recorder.sent) == 1, "an invalid request is never retried"


def test_each_chunk_is_retried_on_its_own() -> None:
    first_of_third_chunk = TEXTS[8].encode()
    recorder = Recorder({first_of_third_chunk: [OverloadedError("full")]})
    policy = RetryPolicy(retries=1, backoff_s=0.001)
    with EncoderClient(transport=MockTransport(recorder, _configs()), max_concurrency=3, retries=policy) as client:
        np.testing.assert_allclose(client.embed(TEXTS, model="m").vectors, EXPECTED)
    firsts = [first for first, _ in recorder.sent]
    assert firsts.count(first_of_third_chunk) == 2
    assert len(firsts) == 7, "the six chunks once, the failed one once more"


def test_an_error_in_a_split_request_names_the_slice_it_is_about() -> None:
    recorder = Recorder({TEXTS[4].encode(): [InvalidInputError("text 1 is empty")]})
    for concurrency in (1, 3):
        with EncoderClient(transport=MockTransport(recorder, _configs()), max_concurrency=concurrency) as client:
            with pytest.raises(InvalidInputError, match=r"^texts\[4:8\]: text 1 is empty$"):
                client.embed(TEXTS, model="m")
        recorder.failures[TEXTS[4].encode()] = [InvalidInputError("text 1 is empty")]


def test_after_a_failure_requests_not_yet_sent_are_dropped() -> None:
    release = threading.Event()

    def handler(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        if bytes(inputs[contract.TEXT][0, 0]) == TEXTS[0].encode():
            raise ServerError("boom")
        release.wait(timeout=10)  # the other workers hold until the call has failed
        sent.append(1)
        return embed_rows(model, inputs, outputs)

    sent: list[int] = []
    client = EncoderClient(transport=MockTransport(handler, _configs(max_batch_size=1)), max_concurrency=2)
    with pytest.raises(ServerError, match=r"texts\[0:1\]: boom"):
        client.embed(TEXTS, model="m")  # 23 requests
    release.set()
    client.close()
    assert len(sent) <= 2, "only requests already running when the first one failed may finish"


def test_usage_is_summed_over_the_requests_of_a_split_input() -> None:
    def handler(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        assert outputs == [contract.EMBEDDING, contract.TOKEN_COUNT]
        rows = len(inputs[contract.TEXT])
        counts = np.array([[len(bytes(r[0]))] for r in inputs[contract.TEXT]], dtype=np.int64)
        return {contract.EMBEDDING: np.ones((rows, 2), dtype=np.float32), contract.TOKEN_COUNT: counts}

    config = MockTransport.ensemble_config("m", task="embed", max_batch_size=2, token_count=True)
    with EncoderClient(transport=MockTransport(handler, [config])) as client:
        result = client.embed(["a", "bb", "ccc", "dddd", "eeeee"], model="m")  # three requests
    assert result.prompt_tokens == 15


def test_task_mismatch_is_an_invalid_input() -> None:
    with EncoderClient(transport=MockTransport(embed_rows, _configs(task="classify"))) as client:
        with pytest.raises(InvalidInputError, match="serves task"):
            client.embed(["a"], model="m")


def test_the_mock_enforces_what_triton_would() -> None:
    transport = MockTransport(embed_rows, _configs(max_batch_size=2))
    with pytest.raises(InvalidInputError, match="batch-size must be <= 2"):
        transport.infer("m", {contract.TEXT: encode_texts(["a", "b", "c"])}, [contract.EMBEDDING])
    with pytest.raises(InvalidInputError, match="differ in batch size"):
        transport.infer("m", {contract.TEXT: encode_texts(["a"]), contract.QUERY: encode_texts(["q", "q"])}, [])
    with pytest.raises(ServerError, match="returned no"):
        transport.infer("m", {contract.TEXT: encode_texts(["a"])}, [contract.TOKEN_COUNT])
    with pytest.raises(ModelNotFoundError):
        transport.model_config("nope")
    transport.ready = False
    assert not EncoderClient(transport=transport).health()


def test_async_client_matches_the_sync_one() -> None:
    async def main() -> np.ndarray:
        async with AsyncEncoderClient(transport=AsyncMockTransport(embed_rows, _configs()), max_concurrency=2) as c:
            assert await c.health()
            assert [m.name for m in await c.models()] == ["m"]
            return (await c.embed(TEXTS, model="m")).vectors

    np.testing.assert_allclose(asyncio.run(main()), EXPECTED)


def test_the_async_client_bounds_its_tasks_and_retries_each_chunk() -> None:
    state = {"in_flight": 0, "most": 0, "failed": False}

    async def handler(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        state["in_flight"] += 1
        state["most"] = max(state["most"], state["in_flight"])
        await asyncio.sleep(0.01)
        state["in_flight"] -= 1
        if bytes(inputs[contract.TEXT][0, 0]) == TEXTS[8].encode() and not state["failed"]:
            state["failed"] = True
            raise OverloadedError("full")
        return embed_rows(model, inputs, outputs)

    async def main() -> np.ndarray:
        transport = AsyncMockTransport(handler, _configs())
        async with AsyncEncoderClient(transport=transport, max_concurrency=3, retries=1) as client:
            return (await client.embed(TEXTS, model="m")).vectors

    np.testing.assert_allclose(asyncio.run(main()), EXPECTED)
    assert state["most"] == 3 and state["failed"]


def test_an_async_failure_cancels_the_other_requests() -> None:
    started: list[bytes] = []

    async def handler(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        first = bytes(inputs[contract.TEXT][0, 0])
        started.append(first)
        if first == TEXTS[0].encode():
            raise InvalidInputError("text 0 is empty")
        await asyncio.sleep(30)  # cancelled, or the test times out
        return embed_rows(model, inputs, outputs)

    async def main() -> None:
        transport = AsyncMockTransport(handler, _configs(max_batch_size=1))
        async with AsyncEncoderClient(transport=transport, max_concurrency=4) as client:
            with pytest.raises(InvalidInputError, match=r"texts\[0:1\]"):
                await client.embed(TEXTS, model="m")
        assert asyncio.all_tasks() == {asyncio.current_task()}, "no request is left running"

    began = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - began < 10 and len(started) <= 4


def test_the_http_transport_gives_each_thread_its_own_tritonclient() -> None:
    from encoder_triton.client._transports.triton import TritonTransport

    transport = TritonTransport("127.0.0.1:1", protocol="http")
    seen: list[Any] = []
    workers = [threading.Thread(target=lambda: seen.extend([transport._client(), transport._client()])) for _ in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert seen[0] is seen[1] and seen[2] is seen[3] and seen[0] is not seen[2]
    assert transport._client() not in seen
    transport.close()
    grpc = TritonTransport("127.0.0.1:1", protocol="grpc")
    assert grpc._client() is grpc._client()
    grpc.close()


def test_lone_surrogates_reach_the_server_as_invalid_utf8_not_a_client_crash() -> None:
    assert encode_texts(["\ud800"])[0, 0] == b"\xed\xa0\x80"
