"""classify / rerank / embed(dimensions) in the client, against a fake transport (no server)."""

import json
from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.client import Classification, EncoderClient, InvalidInputError, ModelInfo, RerankResult
from encoder_triton.client._results import classification_from, rerank_from


def _config(task: str, **params: str) -> dict[str, Any]:
    values = {contract.Param.TASK: task, **params}
    return {"parameters": {k: {"string_value": v} for k, v in values.items()}}


class FakeTransport:
    """Answers like the ensembles would; records what was sent."""

    CONFIGS = {
        "topics": _config(
            "classify",
            **{contract.Param.LABELS: json.dumps(["business", "sport", "tech"]), contract.Param.ACTIVATION: "softmax"},
        ),
        "toxicity": _config(
            "classify",
            **{contract.Param.LABELS: json.dumps(["toxic", "insult"]), contract.Param.ACTIVATION: "sigmoid"},
        ),
        "reranker": _config("rerank"),
        "embedder": _config("embed", **{contract.Param.NORMALIZED: "true", contract.Param.DIMENSION: "4"}),
    }

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, np.ndarray]]] = []
        self.config_calls = 0

    def model_config(self, model: str) -> dict[str, Any]:
        self.config_calls += 1
        return self.CONFIGS[model]

    def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        self.sent.append((model, inputs))
        rows = len(inputs[contract.TEXT])
        if model == "reranker":
            raw = np.arange(rows, dtype=np.float32).reshape(rows, 1) * np.float32([1, -1][rows % 2])
            return {contract.RAW_SCORE: raw, contract.SCORE: 1 / (1 + np.exp(-raw))}
        if model == "embedder":
            vectors = np.full((rows, 4), 0.5, dtype=np.float32)
            return {contract.EMBEDDING: vectors}
        width = len(json.loads(self._labels(model)))
        logits = np.tile(np.array([[0.0, 2.0, 1.0]], dtype=np.float32), (rows, 1))[:, :width]
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return {contract.LOGITS: logits, contract.PROBABILITIES: probabilities}

    def _labels(self, model: str) -> str:
        return self.CONFIGS[model]["parameters"][contract.Param.LABELS]["string_value"]


@pytest.fixture
def client() -> Any:
    client = EncoderClient.__new__(EncoderClient)
    client._transport = FakeTransport()  # type: ignore[assignment]
    client._models = {}
    return client


def test_classify_reads_labels_from_the_served_config(client: Any) -> None:
    result = client.classify(["a", "b"], model="topics", top_k=2)
    assert isinstance(result, Classification)
    assert result.label_names == ("business", "sport", "tech")
    assert result.labels == ["sport", "sport"]
    assert result.top_labels == (("sport", "tech"), ("sport", "tech"))
    assert result.top_scores.shape == (2, 2) and not result.multi_label
    client.classify("c", model="topics")
    assert client._transport.config_calls == 1, "model info is read once per model"


def test_multi_label_models_say_so(client: Any) -> None:
    assert client.classify(["a"], model="toxicity").multi_label


def test_rerank_sends_one_query_row_per_document_and_ranks_best_first(client: Any) -> None:
    documents = ["d0", "d1", "d2", "d3"]
    result = client.rerank("the query", documents, model="reranker", top_k=3, return_documents=True)
    assert isinstance(result, RerankResult)
    _, sent = client._transport.sent[-1]
    assert sent[contract.QUERY].shape == sent[contract.TEXT].shape == (4, 1)
    assert set(sent[contract.QUERY].ravel()) == {b"the query"}
    assert result.indices.tolist() == [3, 2, 1] and result.documents == ("d3", "d2", "d1")
    assert np.all(np.diff(result.scores) <= 0)
    assert client.rerank("q", documents, model="reranker").documents is None


def test_task_methods_check_the_models_task(client: Any) -> None:
    with pytest.raises(InvalidInputError, match="serves rerank, not classify: call client.rerank"):
        client.classify(["a"], model="reranker")
    with pytest.raises(InvalidInputError, match="serves classify, not rerank"):
        client.rerank("q", ["d"], model="topics")


def test_rerank_validates_its_arguments_locally(client: Any) -> None:
    with pytest.raises(InvalidInputError, match="documents is empty"):
        client.rerank("q", [], model="reranker")
    with pytest.raises(InvalidInputError, match="not one string"):
        client.rerank("q", "a document", model="reranker")
    with pytest.raises(InvalidInputError, match="query must be a string"):
        client.rerank(["q"], ["d"], model="reranker")
    with pytest.raises(InvalidInputError, match="top_k must be a positive integer"):
        client.rerank("q", ["d"], model="reranker", top_k=0)
    assert client._transport.sent == []


def test_embed_dimensions_truncates_and_renormalises(client: Any) -> None:
    full = client.embed(["a"], model="embedder")
    assert full.shape == (1, 4)
    short = client.embed(["a"], model="embedder", dimensions=2)
    assert short.shape == (1, 2)
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, rtol=1e-6)
    with pytest.raises(InvalidInputError, match="dimensions must be between 1 and 4"):
        client.embed(["a"], model="embedder", dimensions=5)


def test_results_are_frozen_and_top_k_is_clamped() -> None:
    result = classification_from(np.zeros((1, 2)), np.array([[0.4, 0.6]]), ("a", "b"), top_k=10)
    assert result.top_labels == (("b", "a"),)
    with pytest.raises(AttributeError):
        result.logits = np.zeros(1)  # type: ignore[misc]
    ties = rerank_from(np.full((3, 1), 0.5), np.zeros((3, 1)), None)
    assert ties.indices.tolist() == [0, 1, 2], "ties keep the documents' order"


def test_model_info_parses_what_the_exporter_writes() -> None:
    info = ModelInfo.from_config("m", FakeTransport.CONFIGS["toxicity"])
    assert info.task is contract.Task.CLASSIFY and info.labels == ("toxic", "insult") and info.multi_label
    assert ModelInfo.from_config("old", {}).task is contract.Task.EMBED  # exports before tasks existed
    with pytest.raises(InvalidInputError, match="upgrade"):
        ModelInfo.from_config("future", _config("summarize"))
