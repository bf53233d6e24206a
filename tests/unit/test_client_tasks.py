"""classify and rerank in the client (sync and async), on the shipped MockTransport: no server."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.client import (
    AsyncEncoderClient,
    AsyncMockTransport,
    Classification,
    EncoderClient,
    InvalidInputError,
    MockTransport,
    ModelInfo,
    RerankResult,
)

CONFIGS = [
    MockTransport.ensemble_config(
        "topics", task="classify", max_batch_size=3, labels=["business", "sport", "tech"], activation="softmax"
    ),
    MockTransport.ensemble_config(
        "toxicity", task="classify", max_batch_size=3, labels=["toxic", "insult"], activation="sigmoid"
    ),
    MockTransport.ensemble_config("reranker", task="rerank", max_batch_size=3),
]
WIDTHS = {"topics": 3, "toxicity": 2}


def answer(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    """Answers like the ensembles would: text "tN" scores N."""
    values = np.array([[float(bytes(r[0])[1:])] for r in inputs[contract.TEXT]], dtype=np.float32)
    if model == "reranker":
        return {contract.RAW_SCORE: values - 2, contract.SCORE: 1 / (1 + np.exp(-(values - 2)))}
    logits = np.concatenate([values * (j - 1) for j in range(WIDTHS[model])], axis=1)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return {contract.LOGITS: logits, contract.PROBABILITIES: probabilities.astype(np.float32)}


class Transport(MockTransport):
    """The mock with every request and config read recorded."""

    def __init__(self) -> None:
        self.requests: list[dict[str, np.ndarray]] = []
        self.config_calls = 0

        def record(model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
            self.requests.append(inputs)
            return answer(model, inputs, outputs)

        super().__init__(record, CONFIGS)

    def model_config(self, model: str) -> dict[str, Any]:
        self.config_calls += 1
        return super().model_config(model)


TEXTS = ["t1", "t4", "t0", "t3", "t2"]  # more than max_batch_size (3): split in two requests


def test_classify_reads_labels_from_the_served_config_and_splits_big_inputs() -> None:
    transport = Transport()
    with EncoderClient(transport=transport) as client:
        result = client.classify(TEXTS, model="topics", top_k=2)
        client.classify("t1", model="topics")
    assert isinstance(result, Classification) and len(result) == 5
    assert [len(r[contract.TEXT]) for r in transport.requests[:2]] == [3, 2]
    assert result.label_names == ("business", "sport", "tech")
    assert result.labels == ["tech", "tech", "business", "tech", "tech"]  # t0: all logits 0, ties keep order
    assert result.top_labels[0] == ("tech", "sport") and result.top_scores.shape == (5, 2)
    assert not result.multi_label and result.model == "topics"
    assert transport.config_calls == 1, "model info is read once per model"


def test_multi_label_models_say_so() -> None:
    with EncoderClient(transport=Transport()) as client:
        assert client.classify(["t1"], model="toxicity").multi_label
        assert client.model_info("toxicity") == ModelInfo(
            name="toxicity", task="classify", max_batch_size=3, labels=("toxic", "insult"), activation="sigmoid"
        )


def test_rerank_sends_one_query_row_per_document_and_ranks_best_first() -> None:
    transport = Transport()
    with EncoderClient(transport=transport) as client:
        result = client.rerank("the query", TEXTS, model="reranker", top_k=3, return_documents=True)
        unranked = client.rerank("the query", TEXTS, model="reranker")
    assert isinstance(result, RerankResult)
    for request in transport.requests[:2]:
        assert request[contract.QUERY].shape == request[contract.TEXT].shape
        assert set(request[contract.QUERY].ravel()) == {b"the query"}
    assert result.indices.tolist() == [1, 3, 4] and result.documents == ("t4", "t3", "t2")
    np.testing.assert_allclose(result.raw_scores, [2.0, 1.0, 0.0])
    assert np.all(np.diff(result.scores) <= 0)
    assert unranked.documents is None and len(unranked) == 5


def test_task_methods_check_the_models_task() -> None:
    with EncoderClient(transport=Transport()) as client:
        with pytest.raises(InvalidInputError, match=r"serves task 'rerank', not 'classify': call rerank\(\)"):
            client.classify(["t1"], model="reranker")
        with pytest.raises(InvalidInputError, match="serves task 'classify', not 'rerank'"):
            client.rerank("q", ["t1"], model="topics")


def test_rerank_and_classify_validate_their_arguments_before_any_request() -> None:
    transport = Transport()
    with EncoderClient(transport=transport) as client:
        with pytest.raises(InvalidInputError, match="documents is empty"):
            client.rerank("q", [], model="reranker")
        with pytest.raises(InvalidInputError, match="not one string"):
            client.rerank("q", "t1", model="reranker")
        with pytest.raises(InvalidInputError, match="query must be a string"):
            client.rerank(["q"], ["t1"], model="reranker")  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="top_k must be a positive integer"):
            client.rerank("q", ["t1"], model="reranker", top_k=0)
        with pytest.raises(InvalidInputError, match="top_k must be a positive integer"):
            client.classify(["t1"], model="topics", top_k=-1)
    assert transport.requests == []


def test_async_classify_and_rerank_match_the_sync_ones() -> None:
    async def main() -> tuple[Classification, RerankResult]:
        async with AsyncEncoderClient(transport=AsyncMockTransport(answer, CONFIGS)) as client:
            classes = await client.classify(TEXTS, model="topics", top_k=3)
            ranked = await client.rerank("q", TEXTS, model="reranker", return_documents=True)
            return classes, ranked

    classes, ranked = asyncio.run(main())
    with EncoderClient(transport=Transport()) as client:
        expected_classes = client.classify(TEXTS, model="topics", top_k=3)
        expected_ranked = client.rerank("q", TEXTS, model="reranker", return_documents=True)
    assert classes.top_labels == expected_classes.top_labels
    np.testing.assert_array_equal(classes.probabilities, expected_classes.probabilities)
    assert ranked.indices.tolist() == expected_ranked.indices.tolist()
    assert ranked.documents == expected_ranked.documents


def test_results_are_frozen() -> None:
    with EncoderClient(transport=Transport()) as client:
        result = client.classify(["t1"], model="topics")
    with pytest.raises(AttributeError):
        result.logits = np.zeros(1)  # type: ignore[misc]
