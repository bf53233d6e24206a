"""Real MiniLM weights as a classifier and as a reranker, exported and served on one Triton.

- `bbc_news`: all-MiniLM-L6-v2 with a topic head trained on BBC News articles by
  examples/train_bbc_classifier.py, saved as a standard BertForSequenceClassification folder.
  Labels through Triton equal PyTorch's on held-out articles.
- `reranker`: a cross-encoder with the MiniLM architecture and weights and an untrained
  one-label head. Scores through Triton equal PyTorch's.
- Bad pair input (missing QUERY, mismatched QUERY/TEXT counts, empty or broken documents) gets
  clear INVALID_ARG errors, and the server keeps serving.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.client import EncoderClient, InvalidInputError

pytestmark = pytest.mark.triton

# The models, the repository and the server are session fixtures (tests/conftest.py): the
# README's snippets run against the same server.

PROTOCOLS = ["grpc", "http"]


def _url(server: Any, protocol: str) -> str:
    return server.endpoints.grpc if protocol == "grpc" else server.endpoints.http


@pytest.fixture(scope="module")
def bbc_expected(bbc_example: Any, bbc_classifier: Path, bbc_split: Any) -> tuple[list[str], np.ndarray]:
    """PyTorch's labels and probabilities on the held-out articles (the reference)."""
    _, held_out = bbc_split
    return bbc_example.predict(bbc_classifier, [a.text for a in held_out])


def test_tasks_are_detected_from_the_model_files(minilm_tasks_repo: dict[str, Any]) -> None:
    results = minilm_tasks_repo["results"]
    assert results["bbc_news"].task == contract.Task.CLASSIFY
    assert results["reranker"].task == contract.Task.RERANK
    assert results["bbc_news"].fidelity.label_agreement == 1.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bbc_classifier_labels_through_triton_equal_pytorch(
    bbc_split: Any, bbc_expected: Any, minilm_tasks_server: Any, protocol: str
) -> None:
    _, held_out = bbc_split
    texts = [a.text for a in held_out]
    expected_labels, expected_probabilities = bbc_expected
    with EncoderClient(_url(minilm_tasks_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        result = client.classify(texts, model="bbc_news", top_k=2)  # 100 texts: split by max_batch_size
    labels, probabilities = result.labels, result.probabilities
    assert result.label_names == ("business", "entertainment", "politics", "sports", "tech")
    assert len(result) == len(texts) and result.top_scores.shape == (len(texts), 2)
    assert labels == expected_labels
    np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-4, rtol=0)
    accuracy = np.mean([label == a.label for label, a in zip(labels, held_out, strict=True)])
    assert accuracy >= 0.8, f"a real classifier: held-out accuracy {accuracy:.2f}"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_cross_encoder_scores_through_triton_equal_pytorch(
    minilm_cross_encoder: Path, minilm_tasks_server: Any, corpus_sentences: list[str], protocol: str
) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    by_length = sorted(set(corpus_sentences), key=len)
    documents = [by_length[i] for i in np.linspace(0, len(by_length) - 1, 16).astype(int)]
    documents.append(" ".join(by_length[-8:]))  # far past the limit: the document is cut, not the query
    queries = ["bushfires threaten homes near Sydney", "what did the prime minister announce"]
    tokenizer = AutoTokenizer.from_pretrained(minilm_cross_encoder)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_cross_encoder).eval()
    with EncoderClient(_url(minilm_tasks_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        max_length = client.model_info("reranker").max_length
        for query in queries:
            result = client.rerank(query, documents, model="reranker", return_documents=True)
            batch = tokenizer(
                [query] * len(documents),
                documents,
                padding=True,
                truncation="only_second",
                max_length=max_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                raw = model(**batch).logits[:, 0].double().numpy()
            expected = 1.0 / (1.0 + np.exp(-raw))
            assert np.ptp(expected) > 0.2, "scores should spread for the comparison to mean something"
            np.testing.assert_allclose(result.scores, expected[result.indices], atol=1e-4, rtol=0)
            assert result.indices.tolist() == np.argsort(-raw, kind="stable").tolist()
            assert result.documents == tuple(documents[i] for i in result.indices)
        top = client.rerank(queries[0], documents, model="reranker", top_k=3)
        assert len(top) == 3


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bad_pair_input_gets_clear_errors_and_server_keeps_serving(minilm_tasks_server: Any, protocol: str) -> None:
    from encoder_triton.client._transports.triton import TritonTransport

    url = _url(minilm_tasks_server, protocol)

    def rows(*texts: str | bytes) -> np.ndarray:
        return np.array([[t.encode() if isinstance(t, str) else t] for t in texts], dtype=np.object_)

    transport = TritonTransport(url, protocol=protocol)  # type: ignore[arg-type]
    try:
        with pytest.raises(InvalidInputError, match="QUERY"):
            transport.infer("reranker", {contract.TEXT: rows("a document")}, [contract.SCORE])
        with pytest.raises(InvalidInputError, match="batch size"):
            transport.infer(
                "reranker",
                {contract.QUERY: rows("q", "q"), contract.TEXT: rows("d1", "d2", "d3")},
                [contract.SCORE],
            )
    finally:
        transport.close()

    with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="document 1 is empty"):
            client.rerank("a query", ["fine", "  "], model="reranker")
        with pytest.raises(InvalidInputError, match="query 0 is empty"):
            client.rerank("", ["a document"], model="reranker")
        with pytest.raises(InvalidInputError, match=r"document 0 is not valid UTF-8 \(byte 0xff"):
            client.rerank("a query", [b"bad \xff bytes"], model="reranker")  # type: ignore[list-item]
        with pytest.raises(InvalidInputError, match="documents is empty"):
            client.rerank("a query", [], model="reranker")
        with pytest.raises(InvalidInputError, match="not one string"):
            client.rerank("a query", "one document", model="reranker")
        with pytest.raises(InvalidInputError, match="text 0 is empty"):
            client.classify([""], model="bbc_news")
        assert client.health()
        assert len(client.rerank("still serving?", ["yes", "no"], model="reranker")) == 2


def test_one_bad_pair_request_does_not_fail_the_others_in_its_batch(minilm_tasks_server: Any) -> None:
    url = minilm_tasks_server.endpoints.grpc
    documents = [f"document number {i} about the weather in Sydney" for i in range(12)]
    with EncoderClient(url) as client:
        expected = [float(client.rerank("weather", [d], model="reranker").scores[0]) for d in documents]
    outcomes: dict[int, Any] = {}
    barrier = threading.Barrier(len(documents))

    def one(index: int) -> None:
        payload = "" if index % 4 == 0 else documents[index]  # every fourth request is bad
        with EncoderClient(url) as client:
            barrier.wait(timeout=30)
            try:
                outcomes[index] = float(client.rerank("weather", [payload], model="reranker").scores[0])
            except InvalidInputError as exc:
                outcomes[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(documents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for index in range(len(documents)):
        if index % 4 == 0:
            assert isinstance(outcomes[index], InvalidInputError)
        else:
            assert outcomes[index] == pytest.approx(expected[index], abs=2e-5)
