"""Long inputs on a real embedded Triton: the four policies, through the client and the gateway.

A 5,000-word text embedded under `chunk` must equal its token windows embedded and pooled here,
in PyTorch, by a sliding window written out below (cos >= 0.9999); `truncate` must say so in
usage and in the `X-Truncated-Inputs` header; `error` must fail its own request with a 4xx
naming the limit and the text's length, and no other; `truncate_left` must keep the end of the
text. all-MiniLM-L6-v2 (the session's export) asks for each policy per request; tiny models
built here cover classification and rerank windows and a policy chosen at export.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from encoder_triton.client import EncoderClient, InvalidInputError
from encoder_triton.contract import LongInputs
from tiny_models import POSITIONS, TinyCase

pytestmark = pytest.mark.triton

MIN_COSINE = 0.9999
MAX_ABS_ERROR = 1e-4
MINILM_LIMIT = 256
WORDS = 5_000


@pytest.fixture(scope="module")
def long_text() -> str:
    """5,000 words of real news (the Lee corpus shipped with gensim), about 20 pages."""
    import gensim.test.utils as gensim_test

    words = Path(gensim_test.datapath("lee_background.cor")).read_text(encoding="utf-8", errors="replace").split()
    assert len(words) >= WORDS
    return " ".join(words[:WORDS])


@pytest.fixture(scope="module")
def minilm(minilm_server: Any) -> Any:
    with EncoderClient(minilm_server.endpoints.grpc) as client:
        yield client


@pytest.fixture(scope="module")
def minilm_gateway(minilm_server: Any, start_gateway: Callable[..., Any]) -> Any:
    return start_gateway(triton_url=minilm_server.endpoints.grpc)


@pytest.fixture(scope="module")
def minilm_torch(minilm_dir: Path) -> tuple[Any, Any]:
    import transformers

    return transformers.AutoTokenizer.from_pretrained(minilm_dir), transformers.AutoModel.from_pretrained(
        minilm_dir
    ).eval()


# -- the reference: a sliding window, written out ------------------------------------------


def sliding_windows(ids: list[int], room: int, overlap: int) -> list[list[int]]:
    """A text's tokens (no special tokens) in windows of `room`, each starting `room - overlap`
    after the one before, the last one reaching the end."""
    windows, start = [], 0
    while True:
        stop = min(start + room, len(ids))
        windows.append(ids[start:stop])
        if stop == len(ids):
            return windows
        start += room - overlap


def _padded(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


def minilm_reference(tokenizer: Any, model: Any, rows: list[list[int]]) -> np.ndarray:
    """all-MiniLM-L6-v2's sentence embedding of each id sequence: mean pooling, normalised."""
    import torch

    ids, mask = _padded(rows, tokenizer.pad_token_id)
    with torch.inference_mode():
        hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
    m = mask.unsqueeze(-1).double()
    pooled = (hidden.double() * m).sum(1) / m.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def pooled_windows(vectors: np.ndarray, windows: list[list[int]], specials: int) -> np.ndarray:
    """Token-weighted mean of the windows' unit vectors (each window's tokens, special tokens
    included), normalised again."""
    weights = np.array([len(w) + specials for w in windows], dtype=np.float64)
    mean = (vectors * weights[:, None]).sum(0) / weights.sum()
    return mean / np.linalg.norm(mean)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def chunked_reference(long_text: str, minilm_torch: tuple[Any, Any]) -> dict[str, Any]:
    tokenizer, model = minilm_torch
    ids = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    windows = sliding_windows(ids, MINILM_LIMIT - 2, MINILM_LIMIT // 8)
    rows = [[tokenizer.cls_token_id, *w, tokenizer.sep_token_id] for w in windows]
    vectors = minilm_reference(tokenizer, model, rows)
    return {"vector": pooled_windows(vectors, windows, 2), "windows": windows, "tokens": sum(len(r) for r in rows)}


# -- all-MiniLM-L6-v2, each policy asked per request ---------------------------------------


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_chunked_long_text_is_its_windows_pooled(
    minilm_server: Any, long_text: str, chunked_reference: dict[str, Any], minilm_torch: tuple[Any, Any], protocol: str
) -> None:
    url = minilm_server.endpoints.grpc if protocol == "grpc" else minilm_server.endpoints.http
    with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
        result = client.embed([long_text, "a short text"], model="minilm", long_inputs="chunk")
        whole = client.embed(["a short text"], model="minilm").vectors[0]
        truncated = client.embed([long_text], model="minilm").vectors[0]
    assert len(chunked_reference["windows"]) > 20, "5,000 words should need many windows"
    assert _cos(result.vectors[0], chunked_reference["vector"]) >= MIN_COSINE
    assert _cos(result.vectors[0], truncated) < 0.99, "chunk must differ from the first window alone"
    np.testing.assert_array_equal(result.vectors[1], whole)  # a text that fits costs nothing more
    assert result.truncated == 0
    short_tokens = len(minilm_torch[0]("a short text")["input_ids"])
    assert result.prompt_tokens == chunked_reference["tokens"] + short_tokens


def test_the_gateway_chunks_too(minilm_gateway: Any, long_text: str, chunked_reference: dict[str, Any]) -> None:
    response = requests.post(
        minilm_gateway.url + "/v1/embeddings",
        json={"model": "minilm", "input": [long_text], "long_inputs": "chunk"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert _cos(np.array(body["data"][0]["embedding"]), chunked_reference["vector"]) >= MIN_COSINE
    assert body["usage"]["truncated"] == 0 and response.headers["x-truncated-inputs"] == "0"
    assert body["usage"]["prompt_tokens"] == chunked_reference["tokens"]


def test_truncation_is_reported(minilm: Any, minilm_gateway: Any, long_text: str) -> None:
    result = minilm.embed([long_text, "short", long_text], model="minilm")
    assert result.truncated == 2
    assert result.prompt_tokens == 2 * MINILM_LIMIT + 3
    assert minilm.model_info("minilm").long_inputs == LongInputs.TRUNCATE.value
    response = requests.post(
        minilm_gateway.url + "/v1/embeddings", json={"model": "minilm", "input": [long_text, "short"]}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-truncated-inputs"] == "1"
    assert response.json()["usage"]["truncated"] == 1
    fits = requests.post(minilm_gateway.url + "/v1/embeddings", json={"model": "minilm", "input": "short"}, timeout=60)
    assert fits.headers["x-truncated-inputs"] == "0"


def test_error_fails_its_own_request_only(minilm_server: Any, long_text: str, corpus_sentences: list[str]) -> None:
    url = minilm_server.endpoints.grpc
    texts = corpus_sentences[:7]
    with EncoderClient(url) as client:
        expected = client.embed(texts, model="minilm").vectors
    results: dict[int, Any] = {}
    barrier = threading.Barrier(len(texts) + 1)

    def one(index: int) -> None:
        with EncoderClient(url) as client:
            barrier.wait(timeout=30)
            try:
                if index < 0:
                    client.embed([long_text], model="minilm", long_inputs="error")
                else:
                    results[index] = client.embed(texts[index], model="minilm", long_inputs="error").vectors[0]
            except InvalidInputError as exc:
                results[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in (-1, *range(len(texts)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    error = results[-1]
    assert isinstance(error, InvalidInputError)
    assert f"over this model's limit of {MINILM_LIMIT}" in str(error)
    assert "text 0 has " in str(error) and "long_inputs=error" in str(error)
    for index in range(len(texts)):
        np.testing.assert_allclose(results[index], expected[index], atol=1e-5)


def test_error_is_a_4xx_naming_the_limit_in_the_gateway(minilm_gateway: Any, long_text: str) -> None:
    response = requests.post(
        minilm_gateway.url + "/v1/embeddings",
        json={"model": "minilm", "input": ["short", long_text], "long_inputs": "error"},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "text 1 has " in message and f"over this model's limit of {MINILM_LIMIT}" in message


def test_truncate_left_keeps_the_end(
    minilm: Any, minilm_repo: Path, minilm_dir: Path, minilm_torch: tuple[Any, Any], long_text: str
) -> None:
    import transformers

    from encoder_triton.runtime.steps import ModelArgs, TokenizerStep

    tokenizer, model = minilm_torch
    left = transformers.AutoTokenizer.from_pretrained(minilm_dir, truncation_side="left")
    expected_ids = left(long_text, truncation=True, max_length=MINILM_LIMIT)["input_ids"]
    tail = tokenizer(long_text, add_special_tokens=False)["input_ids"][-(MINILM_LIMIT - 2) :]
    assert expected_ids == [tokenizer.cls_token_id, *tail, tokenizer.sep_token_id]
    step = TokenizerStep(ModelArgs.from_directory(minilm_repo / "minilm_tokenizer"))
    rows = np.array([[long_text.encode()]], dtype=object)
    batch = step.encode({"TEXT": rows}.get, {"long_inputs": "truncate_left"})
    assert batch.input_ids[0].tolist() == expected_ids and batch.truncated.tolist() == [1]
    result = minilm.embed([long_text], model="minilm", long_inputs="truncate_left")
    assert _cos(result.vectors[0], minilm_reference(tokenizer, model, [expected_ids])[0]) >= MIN_COSINE
    assert result.truncated == 1
    head = minilm.embed([long_text], model="minilm", long_inputs="truncate").vectors[0]
    assert _cos(result.vectors[0], head) < 0.99


def test_a_bad_policy_is_the_callers_error(minilm: Any, minilm_gateway: Any) -> None:
    with pytest.raises(InvalidInputError, match="long_inputs must be one of truncate, truncate_left, error, chunk"):
        minilm.embed(["hello"], model="minilm", long_inputs="split")
    response = requests.post(
        minilm_gateway.url + "/v1/embeddings", json={"model": "minilm", "input": "hi", "long_inputs": "split"}
    )
    assert response.status_code == 422


# -- tiny models: classification and rerank windows, a policy chosen at export -----------------

CLASSIFIER = TinyCase("bert", "classify")
RERANKER = TinyCase("bert", "rerank")
ROOM = POSITIONS - 2
OVERLAP = POSITIONS // 8


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, start_triton: Callable[..., Any]) -> dict[str, Any]:
    from encoder_triton.export.pipeline import export_model
    from encoder_triton.export.repository import ServingOptions

    root = tmp_path_factory.mktemp("tiny_long")
    repo = root / "repo"
    folders = {case.name: case.build(root / case.name) for case in (CLASSIFIER, RERANKER)}
    for name, folder in folders.items():
        export_model(str(folder), repo=repo, name=name)
    chunked = ServingOptions(long_inputs=LongInputs.CHUNK)
    export_model(str(folders[CLASSIFIER.name]), repo=repo, name="chunked_classifier", options=chunked)
    server = start_triton(repo)
    with EncoderClient(server.endpoints.grpc) as client:
        yield {"folders": folders, "client": client, "repo": repo}


def _tiny_logits(folder: Path, rows: list[list[int]], types: list[list[int]] | None = None) -> np.ndarray:
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    ids, mask = _padded(rows, tokenizer.pad_token_id)
    token_types = torch.zeros_like(ids) if types is None else _padded(types, 0)[0]
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask, token_type_ids=token_types).logits.double().numpy()


def test_chunked_classification_averages_the_windows_logits(tiny: dict[str, Any], long_text: str) -> None:
    import transformers

    folder = tiny["folders"][CLASSIFIER.name]
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    text = " ".join(long_text.split()[:600])
    windows = sliding_windows(tokenizer(text, add_special_tokens=False)["input_ids"], ROOM, OVERLAP)
    logits = _tiny_logits(folder, [[tokenizer.cls_token_id, *w, tokenizer.sep_token_id] for w in windows])
    mean = logits.mean(0)
    expected = np.exp(mean - mean.max()) / np.exp(mean - mean.max()).sum()
    client = tiny["client"]
    for model, policy in ((CLASSIFIER.name, "chunk"), ("chunked_classifier", None)):  # asked, or the export's
        result = client.classify([text, "a short text"], model=model, long_inputs=policy, top_k=3)
        np.testing.assert_allclose(result.logits[0], mean, atol=1e-3, rtol=0)
        np.testing.assert_allclose(result.probabilities[0], expected, atol=MAX_ABS_ERROR, rtol=0)
        assert result.label_names[int(np.argmax(result.probabilities[0]))] == result.labels[0]
        assert result.truncated == 0
    assert client.model_info("chunked_classifier").long_inputs == "chunk"
    assert client.classify([text], model=CLASSIFIER.name).truncated == 1


def test_chunked_rerank_scores_a_document_as_its_best_window(tiny: dict[str, Any], long_text: str) -> None:
    import transformers

    folder = tiny["folders"][RERANKER.name]
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    query = "fires near sydney"
    documents = [" ".join(long_text.split()[:300]), " ".join(long_text.split()[300:340])]
    q = tokenizer(query, add_special_tokens=False)["input_ids"]
    room = POSITIONS - len(q) - 3
    expected = []
    for document in documents:
        windows = sliding_windows(
            tokenizer(document, add_special_tokens=False)["input_ids"], room, min(OVERLAP, room - 1)
        )
        rows = [[tokenizer.cls_token_id, *q, tokenizer.sep_token_id, *w, tokenizer.sep_token_id] for w in windows]
        types = [[0] * (len(q) + 2) + [1] * (len(w) + 1) for w in windows]
        expected.append(_tiny_logits(folder, rows, types)[:, 0].max())
    result = tiny["client"].rerank(query, documents, model=RERANKER.name, long_inputs="chunk")
    np.testing.assert_allclose(result.raw_scores, np.array(expected)[result.indices], atol=1e-3, rtol=0)
    np.testing.assert_allclose(result.scores, 1 / (1 + np.exp(-np.array(expected)[result.indices])), atol=MAX_ABS_ERROR)
    assert result.truncated == 0
    cut = tiny["client"].rerank(query, documents, model=RERANKER.name, max_document_tokens=5)
    assert cut.truncated == 2  # both documents cut at 5 tokens: the model saw neither whole
