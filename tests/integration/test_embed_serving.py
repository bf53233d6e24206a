"""The spine, end to end: exported all-MiniLM-L6-v2 on a real embedded Triton, HTTP and gRPC."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton.client import (
    ConnectError,
    EncoderClient,
    InvalidInputError,
    ModelNotFoundError,
)
from encoder_triton.client._transports.triton import TritonTransport

pytestmark = pytest.mark.triton

PROTOCOLS = ["grpc", "http"]


def _url(server: Any, protocol: str) -> str:
    return server.endpoints.grpc if protocol == "grpc" else server.endpoints.http


@pytest.fixture(scope="module")
def st_model(minilm_dir: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir), device="cpu")


@pytest.fixture(scope="module")
def varied_sentences(corpus_sentences: list[str]) -> list[str]:
    """120 sentences spread over the corpus's whole length distribution."""
    by_length = sorted(set(corpus_sentences), key=len)
    picks = np.linspace(0, len(by_length) - 1, 120).astype(int)
    return [by_length[i] for i in picks]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_embeddings_match_sentence_transformers(
    minilm_server: Any, st_model: Any, varied_sentences: list[str], protocol: str
) -> None:
    expected = st_model.encode(varied_sentences, normalize_embeddings=True, convert_to_numpy=True)
    with EncoderClient(_url(minilm_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        got = np.concatenate(
            [
                client.embed(varied_sentences[i : i + 32], model="minilm").vectors
                for i in range(0, len(varied_sentences), 32)
            ]
        )
    assert got.shape == (len(varied_sentences), 384)
    cosine = np.sum(got * expected, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    worst = int(np.argmin(cosine))
    assert cosine.min() >= 0.9999, f"text {worst} {varied_sentences[worst][:60]!r}: cos {cosine[worst]}"


def _encoder_counts(server: Any) -> tuple[int, int]:
    import tritonclient.http as http

    client = http.InferenceServerClient(server.endpoints.http)
    try:
        stats = client.get_inference_statistics("minilm_encoder")["model_stats"][0]
    finally:
        client.close()
    return int(stats["inference_count"]), int(stats["execution_count"])


def test_concurrent_requests_are_batched_and_equal_unbatched(minilm_server: Any, varied_sentences: list[str]) -> None:
    texts = varied_sentences[::4][:32]
    url = minilm_server.endpoints.grpc
    with EncoderClient(url) as client:
        unbatched = [client.embed([t], model="minilm").vectors[0] for t in texts]

    inferences_before, executions_before = _encoder_counts(minilm_server)
    results: list[np.ndarray | None] = [None] * len(texts)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(texts))

    def one(index: int) -> None:
        try:
            with EncoderClient(url) as client:
                barrier.wait(timeout=30)
                results[index] = client.embed(texts[index], model="minilm").vectors[0]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    # Triton records statistics just after it sends a response: poll briefly until all are in.
    deadline = time.monotonic() + 10
    while True:
        inferences, executions = _encoder_counts(minilm_server)
        if inferences - inferences_before >= len(texts) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert inferences - inferences_before == len(texts)
    assert executions - executions_before < len(texts), "Triton did not batch concurrent requests"
    for index, (single, batched) in enumerate(zip(unbatched, results, strict=True)):
        assert batched is not None
        np.testing.assert_allclose(batched, single, atol=2e-5, err_msg=f"text {index}")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bad_input_gets_clear_errors_and_server_keeps_serving(minilm_server: Any, st_model: Any, protocol: str) -> None:
    with EncoderClient(_url(minilm_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="text 0 is empty"):
            client.embed([""], model="minilm")
        with pytest.raises(InvalidInputError, match="text 1 is empty"):
            client.embed(["fine", "   "], model="minilm")
        with pytest.raises(InvalidInputError, match=r"text 0 is not valid UTF-8 \(byte 0xff"):
            client.embed([b"ok \xff\xfe broken"], model="minilm")  # type: ignore[list-item]
        with pytest.raises(ModelNotFoundError, match="nope"):
            client.embed(["hello"], model="nope")
        with pytest.raises(InvalidInputError, match="texts is empty"):
            client.embed([], model="minilm")
        # The client splits big inputs itself; the server's own limit still answers clearly.
        raw = TritonTransport(_url(minilm_server, protocol), protocol=protocol)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="batch-size must be <= 64"):
            raw.infer("minilm", {"TEXT": np.array([[b"x"]] * 65, dtype=object)}, ["EMBEDDING"])
        raw.close()

        # A 1 MB text is truncated to the model's limit and answered correctly.
        huge = ("Triton batches requests. " * 45_000)[:1_000_000]
        got = client.embed([huge], model="minilm").vectors[0]
        expected = st_model.encode([huge], normalize_embeddings=True)[0]
        assert float(got @ expected) >= 0.9999

        assert client.health()
        assert client.embed(["still serving"], model="minilm").vectors.shape == (1, 384)


#: A queue delay far longer than it takes the threads below to send: Triton's dynamic batchers
#: (tokenizer and encoder) hold the first request until every other one has joined its batch.
PATIENT_DELAY_US = 1_000_000

#: The bad requests of the shared batch, by index, each with the error only it must get.
BAD_REQUESTS: dict[int, tuple[list[Any], str]] = {
    0: ([""], "text 0 is empty"),
    6: (["a fine text", "   "], "text 1 is empty"),
    12: ([b"ok \xff\xfe broken"], r"text 0 is not valid UTF-8 \(byte 0xff"),
    18: (["one", "two", ""], "text 2 is empty"),
}


@pytest.fixture(scope="module")
def patient_server(minilm_repo: Path, tmp_path_factory: pytest.TempPathFactory, start_triton: Any) -> Any:
    """The exported MiniLM with both steps' queue delay at PATIENT_DELAY_US."""
    from encoder_triton.bench.variants import ServerVariant, make_variant

    variant = ServerVariant(max_queue_delay_us=PATIENT_DELAY_US)
    return start_triton(make_variant(minilm_repo, "minilm", variant, tmp_path_factory.mktemp("patient")))


def test_one_bad_request_does_not_fail_the_others_in_its_batch(
    patient_server: Any, minilm_server: Any, varied_sentences: list[str], triton_counts: Any
) -> None:
    texts = varied_sentences[:24]
    with EncoderClient(minilm_server.endpoints.grpc) as client:
        expected = client.embed(texts, model="minilm").vectors
    payloads = {i: BAD_REQUESTS[i][0] if i in BAD_REQUESTS else [texts[i]] for i in range(len(texts))}
    outcomes: dict[int, Any] = {}
    barrier = threading.Barrier(len(texts))

    def one(index: int) -> None:
        with EncoderClient(patient_server.endpoints.grpc) as client:
            client.model_info("minilm")  # read before the barrier: only the inference races
            barrier.wait(timeout=30)
            try:
                outcomes[index] = client.embed(payloads[index], model="minilm").vectors
            except InvalidInputError as exc:
                outcomes[index] = exc

    before = triton_counts(patient_server)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    after = _settled_counts(patient_server, triton_counts, before, "minilm_encoder", len(texts) - len(BAD_REQUESTS))

    # Triton's own statistics: one tokenizer execution took every request, bad ones included.
    rows = sum(len(payload) for payload in payloads.values())
    assert _delta(after, before, "minilm_tokenizer") == (rows, 1), "the requests did not share one batch"
    for index in range(len(texts)):
        if index in BAD_REQUESTS:
            error = outcomes[index]
            assert isinstance(error, InvalidInputError), f"request {index}: {error!r}"
            assert re.search(BAD_REQUESTS[index][1], str(error)), f"request {index} got another's error: {error}"
        else:
            assert isinstance(outcomes[index], np.ndarray), f"request {index} failed: {outcomes[index]!r}"
            assert outcomes[index].shape == (1, 384)
            np.testing.assert_allclose(outcomes[index][0], expected[index], atol=2e-5, err_msg=f"request {index}")
    # ... and one encoder execution every good one (a bad request never reaches the encoder).
    assert _delta(after, before, "minilm_encoder") == (len(texts) - len(BAD_REQUESTS), 1)


def _delta(after: dict[str, tuple[int, int]], before: dict[str, tuple[int, int]], model: str) -> tuple[int, int]:
    """(inferences, executions) of `model` between two `triton_counts` snapshots."""
    return after[model][0] - before[model][0], after[model][1] - before[model][1]


def _settled_counts(server: Any, counts: Any, before: dict[str, Any], model: str, inferences: int) -> dict[str, Any]:
    """Triton records statistics just after it responds: poll briefly until `model`'s are in."""
    deadline = time.monotonic() + 10
    while True:
        now = counts(server)
        if _delta(now, before, model)[0] >= inferences or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_server_down_is_a_connect_error(protocol: str) -> None:
    from encoder_triton.server.embedded import free_port

    with EncoderClient(f"127.0.0.1:{free_port()}", protocol=protocol, timeout=5) as client:  # type: ignore[arg-type]
        with pytest.raises(ConnectError, match="is the server running"):
            client.embed(["hello"], model="minilm")
