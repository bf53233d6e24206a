"""Real MiniLM weights as a classifier and as a reranker, exported and served on one Triton.

- `bbc_news`: all-MiniLM-L6-v2 with a topic head trained on BBC News articles by
  examples/train_bbc_classifier.py, saved as a standard BertForSequenceClassification folder.
  Labels through Triton equal PyTorch's on held-out articles.
- `minilm_reranker`: a cross-encoder with the MiniLM architecture and weights and an untrained
  one-label head. Scores through Triton equal PyTorch's.
- Bad pair input (missing QUERY, mismatched QUERY/TEXT counts, empty or broken documents) gets
  clear INVALID_ARG errors, and the server keeps serving.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.client import EncoderClient, InvalidInputError

pytestmark = pytest.mark.triton

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_bbc_classifier.py"
PROTOCOLS = ["grpc", "http"]


def _url(server: Any, protocol: str) -> str:
    return server.endpoints.grpc if protocol == "grpc" else server.endpoints.http


@pytest.fixture(scope="module")
def bbc() -> ModuleType:
    """The example training script, imported as a module (it is also a CLI)."""
    spec = importlib.util.spec_from_file_location("train_bbc_classifier", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bbc_split(bbc: ModuleType) -> tuple[list[Any], list[Any]]:
    return bbc.split_articles(bbc.load_bbc_news(), train_per_label=60, test_per_label=20)


@pytest.fixture(scope="module")
def bbc_classifier(bbc: ModuleType, bbc_split: Any, minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    train, _ = bbc_split
    return bbc.train_classifier(minilm_dir, train, tmp_path_factory.mktemp("bbc") / "bbc_news_classifier")


@pytest.fixture(scope="module")
def bbc_expected(bbc: ModuleType, bbc_classifier: Path, bbc_split: Any) -> tuple[list[str], np.ndarray]:
    """PyTorch's labels and probabilities on the held-out articles (the reference)."""
    _, held_out = bbc_split
    return bbc.predict(bbc_classifier, [a.text for a in held_out])


@pytest.fixture(scope="module")
def cross_encoder(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BertForSequenceClassification with one label on MiniLM's weights; the head is random but
    scaled so that scores spread over (0, 1) instead of all sitting at 0.5."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=1).eval()
    with torch.no_grad():
        model.classifier.weight.copy_(torch.randn_like(model.classifier.weight))
        model.classifier.bias.zero_()
    folder = tmp_path_factory.mktemp("cross_encoder") / "minilm-cross-encoder"
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tasks_repo(bbc: ModuleType, bbc_classifier: Path, cross_encoder: Path, tmp_path_factory: Any) -> dict[str, Any]:
    from encoder_triton.exporter.export import export_model

    repo = tmp_path_factory.mktemp("minilm_tasks")
    results = {
        "bbc_news": export_model(str(bbc_classifier), repo=repo, name="bbc_news", max_length=bbc.MAX_LENGTH),
        # all-MiniLM-L6-v2 was trained on 256 tokens (its sentence-transformers config says so).
        "minilm_reranker": export_model(str(cross_encoder), repo=repo, name="minilm_reranker", max_length=256),
    }
    return {"repo": repo, "results": results}


@pytest.fixture(scope="module")
def tasks_server(tasks_repo: dict[str, Any], start_triton: Any) -> Any:
    return start_triton(tasks_repo["repo"])


def test_tasks_are_detected_from_the_model_files(tasks_repo: dict[str, Any]) -> None:
    results = tasks_repo["results"]
    assert results["bbc_news"].task == contract.Task.CLASSIFY
    assert results["minilm_reranker"].task == contract.Task.RERANK
    assert results["bbc_news"].fidelity.label_agreement == 1.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bbc_classifier_labels_through_triton_equal_pytorch(
    bbc_split: Any, bbc_expected: Any, tasks_server: Any, protocol: str
) -> None:
    _, held_out = bbc_split
    texts = [a.text for a in held_out]
    expected_labels, expected_probabilities = bbc_expected
    with EncoderClient(_url(tasks_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        parts = [client.classify(texts[i : i + 50], model="bbc_news", top_k=2) for i in range(0, len(texts), 50)]
    labels = [label for part in parts for label in part.labels]
    probabilities = np.concatenate([part.probabilities for part in parts])
    assert parts[0].label_names == ("business", "entertainment", "politics", "sports", "tech")
    assert labels == expected_labels
    np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-4, rtol=0)
    accuracy = np.mean([label == a.label for label, a in zip(labels, held_out, strict=True)])
    assert accuracy >= 0.8, f"a real classifier: held-out accuracy {accuracy:.2f}"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_cross_encoder_scores_through_triton_equal_pytorch(
    cross_encoder: Path, tasks_server: Any, corpus_sentences: list[str], protocol: str
) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    by_length = sorted(set(corpus_sentences), key=len)
    documents = [by_length[i] for i in np.linspace(0, len(by_length) - 1, 16).astype(int)]
    documents.append(" ".join(by_length[-8:]))  # far past the limit: the document is cut, not the query
    queries = ["bushfires threaten homes near Sydney", "what did the prime minister announce"]
    tokenizer = AutoTokenizer.from_pretrained(cross_encoder)
    model = AutoModelForSequenceClassification.from_pretrained(cross_encoder).eval()
    with EncoderClient(_url(tasks_server, protocol), protocol=protocol) as client:  # type: ignore[arg-type]
        max_length = client.model_info("minilm_reranker").max_length
        for query in queries:
            result = client.rerank(query, documents, model="minilm_reranker", return_documents=True)
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
        top = client.rerank(queries[0], documents, model="minilm_reranker", top_k=3)
        assert len(top) == 3


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bad_pair_input_gets_clear_errors_and_server_keeps_serving(tasks_server: Any, protocol: str) -> None:
    from encoder_triton.client._transport import TritonTransport

    url = _url(tasks_server, protocol)

    def rows(*texts: str | bytes) -> np.ndarray:
        return np.array([[t.encode() if isinstance(t, str) else t] for t in texts], dtype=np.object_)

    transport = TritonTransport(url, protocol=protocol)  # type: ignore[arg-type]
    try:
        with pytest.raises(InvalidInputError, match="QUERY"):
            transport.infer("minilm_reranker", {contract.TEXT: rows("a document")}, [contract.SCORE])
        with pytest.raises(InvalidInputError, match="batch size"):
            transport.infer(
                "minilm_reranker",
                {contract.QUERY: rows("q", "q"), contract.TEXT: rows("d1", "d2", "d3")},
                [contract.SCORE],
            )
    finally:
        transport.close()

    with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="document 1 is empty"):
            client.rerank("a query", ["fine", "  "], model="minilm_reranker")
        with pytest.raises(InvalidInputError, match="query 0 is empty"):
            client.rerank("", ["a document"], model="minilm_reranker")
        with pytest.raises(InvalidInputError, match=r"document 0 is not valid UTF-8 \(byte 0xff"):
            client.rerank("a query", [b"bad \xff bytes"], model="minilm_reranker")  # type: ignore[list-item]
        with pytest.raises(InvalidInputError, match="documents is empty"):
            client.rerank("a query", [], model="minilm_reranker")
        with pytest.raises(InvalidInputError, match="not one string"):
            client.rerank("a query", "one document", model="minilm_reranker")
        with pytest.raises(InvalidInputError, match="text 0 is empty"):
            client.classify([""], model="bbc_news")
        assert client.health()
        assert len(client.rerank("still serving?", ["yes", "no"], model="minilm_reranker")) == 2


def test_one_bad_pair_request_does_not_fail_the_others_in_its_batch(tasks_server: Any) -> None:
    url = tasks_server.endpoints.grpc
    documents = [f"document number {i} about the weather in Sydney" for i in range(12)]
    with EncoderClient(url) as client:
        expected = [float(client.rerank("weather", [d], model="minilm_reranker").scores[0]) for d in documents]
    outcomes: dict[int, Any] = {}
    barrier = threading.Barrier(len(documents))

    def one(index: int) -> None:
        payload = "" if index % 4 == 0 else documents[index]  # every fourth request is bad
        with EncoderClient(url) as client:
            barrier.wait(timeout=30)
            try:
                outcomes[index] = float(client.rerank("weather", [payload], model="minilm_reranker").scores[0])
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
