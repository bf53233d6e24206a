"""The in-process fallback answers like Triton: same repository, same runtime steps, same results."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton.client import AsyncEncoderClient, EncoderClient, InvalidInputError, ModelNotFoundError

pytestmark = pytest.mark.triton


@pytest.fixture(scope="module")
def texts(corpus_sentences: list[str]) -> list[str]:
    by_length = sorted(set(corpus_sentences), key=len)
    return [by_length[i] for i in np.linspace(0, len(by_length) - 1, 200).astype(int)]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_local_embeddings_equal_tritons_on_200_texts(minilm_repo: Path, minilm_server: Any, texts: list[str]) -> None:
    with EncoderClient(minilm_server.endpoints.grpc) as served, EncoderClient.local(minilm_repo) as local:
        assert local.model_info("minilm") == served.model_info("minilm")
        cos = _cosines(local.embed(texts, model="minilm").vectors, served.embed(texts, model="minilm").vectors)
    assert cos.min() >= 0.9999


def test_local_labels_and_rerank_order_equal_tritons(
    minilm_tasks_repo: dict[str, Any], minilm_tasks_server: Any, texts: list[str]
) -> None:
    repo = minilm_tasks_repo["repo"]
    with EncoderClient(minilm_tasks_server.endpoints.grpc) as served, EncoderClient.local(repo) as local:
        assert local.classify(texts, model="bbc_news").labels == served.classify(texts, model="bbc_news").labels
        query = "What happened to interest rates?"
        local_rank = local.rerank(query, texts[:50], model="reranker")
        served_rank = served.rerank(query, texts[:50], model="reranker")
    assert local_rank.indices.tolist() == served_rank.indices.tolist()
    np.testing.assert_allclose(local_rank.scores, served_rank.scores, atol=1e-5)


def test_async_local_client(minilm_repo: Path, texts: list[str]) -> None:
    async def main() -> np.ndarray:
        async with AsyncEncoderClient.local(minilm_repo) as client:
            return (await client.embed(texts[:10], model="minilm")).vectors

    with EncoderClient.local(minilm_repo) as client:
        expected = client.embed(texts[:10], model="minilm").vectors
    np.testing.assert_allclose(asyncio.run(main()), expected, atol=1e-6)


def test_local_errors_are_the_same_types(minilm_repo: Path) -> None:
    with EncoderClient.local(minilm_repo) as client:
        with pytest.raises(InvalidInputError, match="in ensemble 'minilm', text 1 is empty"):
            client.embed(["ok", ""], model="minilm")
        with pytest.raises(ModelNotFoundError, match="'nope' is not in the repository"):
            client.embed(["ok"], model="nope")
        assert [m.name for m in client.models()] == ["minilm"]
