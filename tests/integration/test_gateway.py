"""The HTTP gateway against a real embedded Triton: the OpenAI SDK, error statuses, auth, fuzzing."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from encoder_triton.client import EncoderClient
from encoder_triton.server.embedded import free_port

pytestmark = pytest.mark.triton


@pytest.fixture(scope="module")
def gateway(minilm_server: Any, start_gateway: Callable[..., Any]) -> Any:
    return start_gateway(triton_url=minilm_server.endpoints.grpc)


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_openai_sdk_gets_the_clients_embeddings(
    gateway: Any, minilm_server: Any, corpus_sentences: list[str], encoding_format: str
) -> None:
    from openai import OpenAI

    texts = corpus_sentences[:20]
    sdk = OpenAI(base_url=gateway.url + "/v1", api_key="unused-on-loopback", max_retries=0)
    response = sdk.embeddings.create(model="minilm", input=texts, encoding_format=encoding_format)  # type: ignore[arg-type]
    if encoding_format == "float":
        got = np.array([d.embedding for d in response.data], dtype=np.float32)
    else:
        got = np.stack([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in response.data])  # type: ignore[arg-type]
    with EncoderClient(minilm_server.endpoints.grpc) as client:
        expected = client.embed(texts, model="minilm").vectors
    assert [d.index for d in response.data] == list(range(len(texts)))
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert response.model == "minilm"


def test_openai_sdk_default_encoding_and_dimensions(gateway: Any) -> None:
    from openai import OpenAI

    sdk = OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    vector = sdk.embeddings.create(model="minilm", input="hello", dimensions=64).data[0].embedding
    assert len(vector) == 64
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_models_health_and_metrics(gateway: Any) -> None:
    models = requests.get(gateway.url + "/v1/models", timeout=30).json()
    assert [m["id"] for m in models["data"]] == ["minilm"]
    assert models["data"][0]["task"] == "embed"
    assert requests.get(gateway.url + "/health").json() == {"status": "ok"}
    metrics = requests.get(gateway.url + "/metrics").text
    assert 'gateway_requests_total{route="/v1/models",status="200"}' in metrics


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "minilm", "input": ""}, 400, "text 0 is empty"),
        ({"model": "minilm", "input": []}, 400, "input is empty"),
        ({"model": "minilm", "input": [[1, 2, 3]]}, 400, "token arrays are not supported"),
        ({"model": "minilm"}, 422, "input"),
        ({"model": "minilm", "input": "x", "encoding_format": "int8"}, 422, "encoding_format"),
        ({"model": "nope", "input": "x"}, 404, "'nope' is not loaded"),
        ({"model": "minilm", "input": ["x"] * 2049}, 413, "2049 inputs, over the limit of 2048"),
    ],
)
def test_errors_have_the_right_status_and_openai_shape(
    gateway: Any, body: dict[str, Any], status: int, message: str
) -> None:
    response = requests.post(gateway.url + "/v1/embeddings", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error["message"]
    assert error["type"]


def test_triton_down_is_503_with_retry_after(start_gateway: Callable[..., Any]) -> None:
    dead = start_gateway(triton_url=f"127.0.0.1:{free_port()}", timeout_s=5)
    response = requests.post(dead.url + "/v1/embeddings", json={"model": "minilm", "input": "x"}, timeout=30)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "is the server running" in response.json()["error"]["message"]
    assert requests.get(dead.url + "/health", timeout=30).status_code == 503


def test_full_triton_queue_is_429_with_retry_after(ops_server: Any, start_gateway: Callable[..., Any]) -> None:
    shedding = start_gateway(triton_url=ops_server.endpoints.grpc, max_concurrency=8)
    statuses: list[int] = []
    retry_after: set[str] = set()
    lock = threading.Lock()

    def one(index: int) -> None:
        # Unique texts: the response cache must not answer for the model.
        body = {"model": "minilm", "input": [f"gateway request {index}.{row} " + "tokens " * 200 for row in range(16)]}
        response = requests.post(shedding.url + "/v1/embeddings", json=body, timeout=120)
        with lock:
            statuses.append(response.status_code)
            if response.status_code == 429:
                retry_after.add(response.headers.get("retry-after", ""))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert set(statuses) <= {200, 429}, statuses
    assert 429 in statuses and 200 in statuses
    assert retry_after == {"1"}


def test_api_keys_when_configured(minilm_server: Any, start_gateway: Callable[..., Any]) -> None:
    from openai import AuthenticationError, OpenAI

    locked = start_gateway(triton_url=minilm_server.endpoints.grpc, api_keys=frozenset({"s3cret"}))
    body = {"model": "minilm", "input": "x"}
    assert requests.post(locked.url + "/v1/embeddings", json=body).status_code == 401
    wrong = requests.post(locked.url + "/v1/embeddings", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert requests.get(locked.url + "/v1/models").status_code == 401
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=locked.url + "/v1", api_key="nope", max_retries=0).embeddings.create(model="minilm", input="x")
    ok = OpenAI(base_url=locked.url + "/v1", api_key="s3cret", max_retries=0).embeddings.create(
        model="minilm", input="x"
    )
    assert len(ok.data[0].embedding) == 384
    assert requests.get(locked.url + "/health").status_code == 200  # probes need no key


def test_fuzzing_the_openapi_spec_finds_no_server_errors(gateway: Any) -> None:
    """schemathesis generates requests for every operation in the spec; none may get a 5xx.

    Driven through its Python API with hypothesis (its pytest plugin predates pytest 9).
    """
    from hypothesis import given

    schema = schemathesis.openapi.from_url(gateway.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/embeddings", "/v1/models", "/health", "/metrics"}
    failures: list[str] = []
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(timeout=60)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path} {case.body!r:.200} -> {response.status_code}")

        check()
    assert failures == []
    assert len(statuses) >= 3 * len(operations), "schemathesis generated too few requests"
    assert 200 in statuses and any(400 <= s < 500 for s in statuses)


@pytest.fixture(scope="module")
def tasks_gateway(minilm_tasks_server: Any, start_gateway: Callable[..., Any]) -> Any:
    return start_gateway(triton_url=minilm_tasks_server.endpoints.grpc)


@pytest.mark.parametrize("path", ["/rerank", "/v1/rerank"])
def test_cohere_style_rerank_returns_documents_in_the_clients_order(
    tasks_gateway: Any, minilm_tasks_server: Any, path: str
) -> None:
    query = "Who won the football match?"
    documents = [
        "The stock market fell sharply.",
        "The home team won the football match 2-1.",
        "A recipe for bread.",
        "Election results were announced.",
    ]
    body = {"model": "reranker", "query": query, "documents": documents, "top_n": 3, "return_documents": True}
    response = requests.post(tasks_gateway.url + path, json=body, timeout=60)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    with EncoderClient(minilm_tasks_server.endpoints.grpc) as client:
        expected = client.rerank(query, documents, model="reranker", top_k=3)
    assert [r["index"] for r in results] == expected.indices.tolist()
    np.testing.assert_allclose([r["relevance_score"] for r in results], expected.scores, atol=1e-5)
    assert [r["document"]["text"] for r in results] == [documents[i] for i in expected.indices]
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True)


def test_jina_style_documents_objects_are_accepted(tasks_gateway: Any) -> None:
    body = {"model": "reranker", "query": "q", "documents": [{"text": "a"}, {"text": "b"}]}
    response = requests.post(tasks_gateway.url + "/v1/rerank", json=body, timeout=60)
    assert response.status_code == 200
    assert sorted(r["index"] for r in response.json()["results"]) == [0, 1]
    assert response.json()["results"][0].get("document") is None


def test_classify_returns_the_clients_labels(tasks_gateway: Any, minilm_tasks_server: Any) -> None:
    texts = ["The central bank raised interest rates again.", "The striker scored twice in the final."]
    response = requests.post(tasks_gateway.url + "/classify", json={"model": "bbc_news", "input": texts, "top_k": 2})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    with EncoderClient(minilm_tasks_server.endpoints.grpc) as client:
        expected = client.classify(texts, model="bbc_news", top_k=2)
    assert [[p["label"] for p in d["predictions"]] for d in data] == [list(t) for t in expected.top_labels]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/rerank", {"model": "reranker", "query": "q", "documents": []}, 400, "documents is empty"),
        ("/rerank", {"model": "reranker", "documents": ["a"]}, 422, "query"),
        ("/rerank", {"model": "reranker", "query": "q", "documents": [""]}, 400, "document 0 is empty"),
        ("/rerank", {"model": "nope", "query": "q", "documents": ["a"]}, 404, "'nope' is not loaded"),
        ("/rerank", {"model": "bbc_news", "query": "q", "documents": ["a"]}, 400, "serves task 'classify'"),
        ("/classify", {"model": "bbc_news", "input": [""]}, 400, "text 0 is empty"),
        ("/classify", {"model": "bbc_news", "input": ["x"] * 2049}, 413, "over the limit"),
    ],
)
def test_rerank_and_classify_errors_in_their_own_shape(
    tasks_gateway: Any, path: str, body: dict[str, Any], status: int, message: str
) -> None:
    response = requests.post(tasks_gateway.url + path, json=body, timeout=60)
    assert response.status_code == status, response.text
    assert message in response.json()["message"]
