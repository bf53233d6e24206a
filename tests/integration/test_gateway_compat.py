"""The compatibility routes, request IDs and the access log, on both engines.

Every test that takes `engine` runs twice: against a real embedded Triton and against the same
repository served in process (`--engine local`). Expected values come from the client (Triton)
or from the in-process steps on the truncated text, never from constants.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from encoder_triton.client import EncoderClient

pytestmark = pytest.mark.triton

ENGINES = ["triton", "local"]
TEXTS = ["The central bank raised interest rates again.", "The striker scored twice in the final."]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: Any) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def tasks(engine: str, minilm_tasks_repo: dict[str, Any], start_gateway: Callable[..., Any], request: Any) -> Any:
    """A gateway over the BBC classifier and the reranker, on the engine under test."""
    repo = minilm_tasks_repo["repo"]
    if engine == "triton":
        server = request.getfixturevalue("minilm_tasks_server")
        return start_gateway(triton_url=server.endpoints.grpc, repo=repo)
    return start_gateway(engine="local", repo=repo)


@pytest.fixture(scope="module")
def embedder(engine: str, minilm_repo: Path, start_gateway: Callable[..., Any], request: Any) -> Any:
    """A gateway over all-MiniLM-L6-v2, on the engine under test."""
    if engine == "triton":
        server = request.getfixturevalue("minilm_server")
        return start_gateway(triton_url=server.endpoints.grpc, repo=minilm_repo)
    return start_gateway(engine="local", repo=minilm_repo)


@pytest.fixture(scope="module")
def served_tasks(minilm_tasks_repo: dict[str, Any]) -> Any:
    """The reference answers: the in-process client over the same repository."""
    with EncoderClient.local(minilm_tasks_repo["repo"]) as client:
        yield client


# -- the classifier servers' API -----------------------------------------------------------


def test_the_seed_readme_requests_examples(tasks: Any, served_tasks: Any) -> None:
    """The seed classifier server's README examples, verbatim but for the URL and model name."""
    url = tasks.url
    # --- README: single text
    response = requests.post(f"{url}/predict", json={"texts": "This movie was fantastic!", "model_name": "bbc_news"})
    print(response.json())
    # --- README: batch, with a token limit
    batch = requests.post(
        f"{url}/predict",
        json={"texts": ["Great product!", "Terrible service, never again."], "max_length": 128},
    )
    print(batch.json())
    # --- README: health and models
    print(requests.get(f"{url}/health").json())
    print(requests.get(f"{url}/models").json())

    single = response.json()
    assert response.status_code == 200 and set(single) == {"request_id", "results", "processing_time", "model_used"}
    assert single["model_used"] == "bbc_news" and single["request_id"] == response.headers["x-request-id"]
    assert single["processing_time"] > 0
    result = single["results"]
    assert result["text"] == "This movie was fantastic!"
    reference = served_tasks.classify(["This movie was fantastic!"], model="bbc_news")
    np.testing.assert_allclose(result["probabilities"], reference.probabilities[0], atol=1e-5)
    assert result["prediction"] == int(np.argmax(result["probabilities"]))
    assert len(result["probabilities"]) == len(reference.label_names)

    results = batch.json()["results"]
    assert [r["text"] for r in results] == ["Great product!", "Terrible service, never again."]
    classified = requests.post(
        f"{url}/classify", json={"model": "bbc_news", "input": [r["text"] for r in results], "return_all_scores": True}
    ).json()
    for row, data in zip(results, classified["data"], strict=True):
        assert [p["score"] for p in data["predictions"]] == pytest.approx(row["probabilities"], abs=1e-6)
        assert row["prediction"] == int(np.argmax(row["probabilities"]))
    models = requests.get(f"{url}/models").json()["models"]
    assert models["bbc_news"]["device"] == "cpu" and models["bbc_news"]["dtype"] == "float32"
    assert models["bbc_news"]["num_parameters"] > 20_000_000  # MiniLM-L6: 22.7M weights
    assert "reranker" not in models


def test_classify_takes_the_seed_body_too(tasks: Any) -> None:
    body = {"texts": TEXTS, "model_name": "bbc_news", "return_all_scores": True}
    response = requests.post(tasks.url + "/classify", json=body, timeout=60)
    assert response.status_code == 200, response.text
    labels = [[p["label"] for p in d["predictions"]] for d in response.json()["data"]]
    assert len(labels[0]) == 5 and labels[0] == labels[1]  # every label, in label order


def test_predict_max_length_is_a_real_truncation(tasks: Any, minilm_tasks_repo: dict[str, Any]) -> None:
    """max_length=8 answers what the model gives for the text cut to its first 8 tokens."""
    from encoder_triton.runtime.steps import ModelArgs, TokenizerStep

    text = "The central bank raised interest rates again, and shares in every bank fell sharply on the news."
    step = TokenizerStep(ModelArgs.from_directory(minilm_tasks_repo["repo"] / "bbc_news_tokenizer"))
    encoding = step.tokenizer.encodings([text], add_special_tokens=False)[0]
    cut = text[: encoding.offsets[8 - 2 - 1][1]]  # 8 tokens = [CLS] + 6 + [SEP]
    truncated = requests.post(tasks.url + "/predict", json={"texts": text, "max_length": 8}).json()["results"]
    whole = requests.post(tasks.url + "/predict", json={"texts": cut}).json()["results"]
    full = requests.post(tasks.url + "/predict", json={"texts": text}).json()["results"]
    np.testing.assert_allclose(truncated["probabilities"], whole["probabilities"], atol=1e-5)
    assert not np.allclose(truncated["probabilities"], full["probabilities"], atol=1e-3)
    over = requests.post(tasks.url + "/predict", json={"texts": text, "max_length": 100_000}).json()["results"]
    np.testing.assert_allclose(over["probabilities"], full["probabilities"], atol=1e-5)  # capped at the export's


def test_health_stats_move_after_traffic(tasks: Any) -> None:
    before = requests.get(tasks.url + "/health").json()["models"]["bbc_news"]
    threads = [
        threading.Thread(target=requests.post, args=(tasks.url + "/predict",), kwargs={"json": {"texts": TEXTS}})
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    after = requests.get(tasks.url + "/health").json()
    assert after["status"] == "ok"
    stats = after["models"]["bbc_news"]
    assert set(stats) == {"total_requests", "total_batches", "avg_batch_size", "avg_latency", "throughput"}
    assert stats["total_requests"] >= before["total_requests"] + 8
    assert stats["total_batches"] > before["total_batches"]
    assert stats["avg_batch_size"] >= 1 and stats["avg_latency"] > 0 and stats["throughput"] > 0


def test_predict_errors_answer_fastapis_detail(tasks: Any) -> None:
    unknown = requests.post(tasks.url + "/predict", json={"texts": "x", "model_name": "nope"})
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    empty = requests.post(tasks.url + "/predict", json={"texts": ""})
    assert empty.status_code == 400 and "text 0 is empty" in empty.json()["detail"]


# -- Cohere v2 and llama.cpp reranking -----------------------------------------------------

DOCUMENTS = [
    "The stock market fell sharply.",
    "The home team won the football match 2-1 after a late goal in the second half of extra time.",
    "A recipe for bread.",
]
QUERY = "Who won the football match?"


def test_cohere_v2_sdk_reranks_with_max_tokens_per_doc(tasks: Any, served_tasks: Any) -> None:
    import cohere

    client = cohere.ClientV2(api_key="unused", base_url=tasks.url)
    response = client.rerank(model="reranker", query=QUERY, documents=DOCUMENTS, top_n=2, max_tokens_per_doc=6)
    expected = served_tasks.rerank(QUERY, DOCUMENTS, model="reranker", top_k=2, max_document_tokens=6)
    assert [r.index for r in response.results] == expected.indices.tolist()
    np.testing.assert_allclose([r.relevance_score for r in response.results], expected.scores, atol=1e-5)
    cut = served_tasks.rerank(QUERY, DOCUMENTS, model="reranker", max_document_tokens=6)
    whole = served_tasks.rerank(QUERY, DOCUMENTS, model="reranker")
    by_index = {int(i): float(s) for i, s in zip(cut.indices, cut.raw_scores, strict=True)}
    full = {int(i): float(s) for i, s in zip(whole.indices, whole.raw_scores, strict=True)}
    assert by_index[1] != pytest.approx(full[1], abs=1e-3)  # the long document was cut
    assert by_index[0] == pytest.approx(full[0], abs=1e-5)  # a short one was not
    assert response.id  # the request ID


def test_llamacpp_reranking_jina_and_tei_shapes(tasks: Any, served_tasks: Any) -> None:
    expected = served_tasks.rerank(QUERY, DOCUMENTS, model="reranker")
    jina = requests.post(tasks.url + "/reranking", json={"query": QUERY, "documents": DOCUMENTS, "top_n": 2}).json()
    assert jina["object"] == "list" and jina["model"] == "reranker"
    assert [r["index"] for r in jina["results"]] == expected.indices[:2].tolist()
    np.testing.assert_allclose([r["relevance_score"] for r in jina["results"]], expected.raw_scores[:2], atol=1e-4)
    tei = requests.post(tasks.url + "/reranking", json={"query": QUERY, "texts": DOCUMENTS, "return_text": True}).json()
    assert [r["index"] for r in tei] == expected.indices.tolist()
    assert [r["text"] for r in tei] == [DOCUMENTS[i] for i in expected.indices]
    error = requests.post(tasks.url + "/reranking", json={"query": QUERY, "documents": []})
    assert error.status_code == 400
    assert error.json()["error"] == {
        "code": 400,
        "message": '"documents" must be a non-empty string array',
        "type": "invalid_request_error",
    }


# -- embeddings: llama.cpp, OpenAI token arrays, TEI /tokenize -----------------------------


def test_llamacpp_embedding_routes(embedder: Any, minilm_repo: Path) -> None:
    with EncoderClient.local(minilm_repo) as client:
        expected = client.embed(TEXTS, model="minilm").vectors
    for path, field in (("/embedding", "content"), ("/embeddings", "input")):
        answer = requests.post(embedder.url + path, json={field: TEXTS}, timeout=60).json()
        assert [item["index"] for item in answer] == [0, 1]
        got = np.array([item["embedding"][0] for item in answer], dtype=np.float32)
        np.testing.assert_allclose(got, expected, atol=2e-5)
    max_abs = requests.post(embedder.url + "/embedding", json={"content": TEXTS[0], "embd_normalize": 0}).json()
    assert max(abs(x) for x in max_abs[0]["embedding"][0]) == pytest.approx(32760.0, rel=1e-5)
    missing = requests.post(embedder.url + "/embedding", json={})
    assert missing.status_code == 400 and missing.json()["error"]["message"] == '"input" or "content" must be provided'


def test_openai_token_arrays_go_straight_to_the_encoder(embedder: Any, minilm_repo: Path) -> None:
    from openai import OpenAI

    tokens = requests.post(embedder.url + "/tokenize", json={"inputs": TEXTS}).json()
    ids = [[t["id"] for t in row] for row in tokens]
    sdk = OpenAI(base_url=embedder.url + "/v1", api_key="unused", max_retries=0)
    response = sdk.embeddings.create(model="minilm", input=ids, user="user-42")
    with EncoderClient.local(minilm_repo) as client:
        expected = client.embed(TEXTS, model="minilm").vectors
    np.testing.assert_allclose([d.embedding for d in response.data], expected, atol=2e-5)
    assert response.usage.prompt_tokens == sum(len(row) for row in ids)
    one = sdk.embeddings.create(model="minilm", input=ids[0], encoding_format="base64").data[0].embedding
    np.testing.assert_allclose(np.frombuffer(base64.b64decode(one), dtype="<f4"), expected[0], atol=2e-5)  # type: ignore[arg-type]
    bad = requests.post(embedder.url + "/v1/embeddings", json={"model": "minilm", "input": [[101, 10**7, 102]]})
    assert bad.status_code == 400 and "outside the model's vocabulary" in bad.json()["error"]["message"]


def test_tei_tokenize(embedder: Any) -> None:
    text = "Héllo wörld"
    answer = requests.post(embedder.url + "/tokenize", json={"inputs": text}).json()
    assert answer[0][0] == {"id": 101, "text": "[CLS]", "special": True, "start": None, "stop": None}
    assert answer[0][-1]["text"] == "[SEP]"
    data = text.encode()
    for token in answer[0][1:-1]:
        assert token["special"] is False
        assert data[token["start"] : token["stop"]].decode() == token["text"]  # byte offsets, as TEI's
    bare = requests.post(embedder.url + "/tokenize", json={"inputs": [text], "add_special_tokens": False}).json()
    assert [t["id"] for t in bare[0]] == [t["id"] for t in answer[0][1:-1]]
    empty = requests.post(embedder.url + "/tokenize", json={"inputs": []})
    assert empty.status_code == 400 and empty.json() == {"error": "`inputs` cannot be empty", "error_type": "empty"}


# -- request IDs and the access log --------------------------------------------------------


def test_request_ids_are_echoed_and_logged(embedder: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="encoder_triton.gateway.access"):
        sent = requests.post(
            embedder.url + "/v1/embeddings",
            json={"model": "minilm", "input": "hello"},
            headers={"X-Request-ID": "trace-1234", "User-Agent": "compat-test"},
        )
        made = requests.get(embedder.url + "/v1/models")
        made_id = made.headers["x-request-id"]
        # The line is written once the response has gone out: give the server a moment.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(made_id in r.getMessage() for r in caplog.records):
            time.sleep(0.05)
    assert sent.headers["x-request-id"] == "trace-1234"
    assert len(made_id) == 32  # one was made
    lines = [r.getMessage() for r in caplog.records if r.name == "encoder_triton.gateway.access"]
    line = next(line for line in lines if "request_id=trace-1234" in line)
    assert '"POST /v1/embeddings HTTP/1.1" 200 ' in line and '"compat-test"' in line and "duration_ms=" in line
    assert any(f"request_id={made_id}" in line for line in lines)


def test_the_access_log_can_be_turned_off(
    minilm_repo: Path, start_gateway: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    quiet = start_gateway(engine="local", repo=minilm_repo, access_log=False)
    with caplog.at_level(logging.INFO, logger="encoder_triton.gateway.access"):
        response = requests.get(quiet.url + "/v1/models", headers={"X-Request-ID": "silent-1"})
    assert response.headers["x-request-id"] == "silent-1"
    assert not [r for r in caplog.records if "silent-1" in r.getMessage()]


def test_the_openapi_document_covers_every_route(embedder: Any) -> None:
    spec = requests.get(embedder.url + "/openapi.json").json()
    paths = set(spec["paths"])
    assert paths >= {
        "/v1/embeddings",
        "/v1/models",
        "/rerank",
        "/v1/rerank",
        "/v2/rerank",
        "/embedding",
        "/embeddings",
        "/reranking",
        "/tokenize",
        "/predict",
        "/models",
        "/health",
        "/classify",
        "/livez",
        "/readyz",
    }
    # Probes answer 200 or 503, never a client error.
    for path in paths - {"/metrics", "/health", "/livez", "/readyz"}:
        for operation in spec["paths"][path].values():
            assert "200" in operation["responses"] and any(code.startswith("4") for code in operation["responses"])
