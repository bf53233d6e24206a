"""bge-m3's three outputs from one forward pass, on a real embedded Triton, against BGE-M3's own
computation written out below (FlagEmbedding's `BGEM3Model` / `BGEM3FlagModel.encode`).

The model is a tiny XLM-R built here with the two head files beside its weights, as BAAI/bge-m3
ships them (tests/tiny_models.py), exported with long inputs chunked by default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from encoder_triton import contract
from encoder_triton.client import EncoderClient, InvalidInputError
from tiny_models import HIDDEN, POSITIONS, build_tiny_bge_m3

pytestmark = pytest.mark.triton

MIN_COSINE = 0.9999
MAX_ABS_ERROR = 1e-4
OVERLAP = 8


@pytest.fixture(scope="module")
def m3(tmp_path_factory: pytest.TempPathFactory, start_triton: Callable[..., Any]) -> dict[str, Any]:
    from encoder_triton.export.pipeline import export_model
    from encoder_triton.export.repository import ServingOptions

    root = tmp_path_factory.mktemp("bge_m3")
    folder = build_tiny_bge_m3(root / "tiny-bge-m3")
    repo = root / "repo"
    options = ServingOptions(long_inputs=contract.LongInputs.CHUNK, chunk_overlap=OVERLAP)
    result = export_model(str(folder), repo=repo, name="m3", options=options)
    server = start_triton(repo)
    with EncoderClient(server.endpoints.grpc) as client:
        yield {"folder": folder, "repo": repo, "server": server, "client": client, "result": result}


@pytest.fixture(scope="module")
def texts(corpus_sentences: list[str]) -> list[str]:
    """Real sentences of spread lengths, all within the tiny model's 64 tokens."""
    short = sorted({s for s in corpus_sentences if len(s.split()) <= 20}, key=len)
    return [short[i] for i in np.linspace(0, len(short) - 1, 10).astype(int)]


# -- BGE-M3's computation, written out -----------------------------------------------------


def bge_m3_reference(folder: Path, rows: Sequence[str] | list[list[int]]) -> dict[str, Any]:
    """Dense, lexical weights and ColBERT vectors as FlagEmbedding computes them: CLS normalised;
    relu(sparse_linear(h)) with each id's largest weight, CLS/EOS/PAD/UNK and zero weights
    dropped; normalize(colbert_linear(h[:, 1:]) * mask[:, 1:]) cut to the text's tokens - 1.
    `rows` are texts (tokenised with truncation) or token id rows with their special tokens."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    sparse_linear = torch.nn.Linear(HIDDEN, 1)
    sparse_linear.load_state_dict(torch.load(folder / "sparse_linear.pt", weights_only=True))
    colbert_linear = torch.nn.Linear(HIDDEN, HIDDEN)
    colbert_linear.load_state_dict(torch.load(folder / "colbert_linear.pt", weights_only=True))
    if isinstance(rows[0], str):
        batch = tokenizer(list(rows), padding=True, truncation=True, max_length=POSITIONS, return_tensors="pt")
    else:
        width = max(len(r) for r in rows)
        batch = {
            "input_ids": torch.tensor([list(r) + [tokenizer.pad_token_id] * (width - len(r)) for r in rows]),
            "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
        }
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
        dense = torch.nn.functional.normalize(hidden[:, 0], dim=-1)
        token_weights = torch.relu(sparse_linear(hidden)).squeeze(-1)
        colbert = colbert_linear(hidden[:, 1:]) * batch["attention_mask"][:, 1:][:, :, None].float()
        colbert = torch.nn.functional.normalize(colbert, dim=-1)
    unused = {tokenizer.cls_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id}
    lexical = []
    for weights, ids in zip(token_weights.numpy(), batch["input_ids"].tolist(), strict=True):
        found: dict[int, float] = {}
        for weight, index in zip(weights, ids, strict=True):
            if index not in unused and weight > 0 and weight > found.get(index, 0):
                found[index] = float(weight)
        lexical.append(found)
    lengths = batch["attention_mask"].sum(1).tolist()
    return {
        "dense": dense.numpy(),
        "sparse": lexical,
        "colbert": [colbert[i, : n - 1].numpy() for i, n in enumerate(lengths)],
        "lengths": lengths,
    }


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def _assert_sparse_equal(got: dict[int, float], expected: dict[int, float]) -> None:
    assert set(got) == set(expected)
    for index, weight in expected.items():
        assert abs(got[index] - weight) <= MAX_ABS_ERROR, (index, got[index], weight)


# -- tests -----------------------------------------------------------------------------------


def test_export_recognises_bge_m3_and_folds_both_heads(m3: dict[str, Any]) -> None:
    import json

    report = json.loads((m3["repo"] / "m3_encoder" / "1" / "export_report.json").read_text())
    assert report["encoder_outputs"] == [contract.EMBEDDING, contract.TOKEN_WEIGHTS, contract.TOKEN_VECTORS]
    assert report["bge_m3"]["colbert_dimension"] == HIDDEN
    info = m3["client"].model_info("m3")
    assert info.embedding_outputs == ("dense", "sparse", "colbert") and info.normalized
    assert info.long_inputs == "chunk"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_three_outputs_equal_bge_m3s_computation(m3: dict[str, Any], texts: list[str], protocol: str) -> None:
    server = m3["server"]
    url = server.endpoints.grpc if protocol == "grpc" else server.endpoints.http
    with EncoderClient(url, protocol=protocol) as client:  # type: ignore[arg-type]
        result = client.embed(texts, model="m3", outputs=("dense", "sparse", "colbert"))
    expected = bge_m3_reference(m3["folder"], texts)
    assert _cosines(result.vectors, expected["dense"]).min() >= MIN_COSINE
    assert result.sparse is not None and result.colbert is not None
    for got, want in zip(result.sparse, expected["sparse"], strict=True):
        _assert_sparse_equal(got.as_dict(), want)
    assert any(len(want) < n - 2 for want, n in zip(expected["sparse"], expected["lengths"], strict=True)), (
        "some tokens must repeat or weigh 0, or the max and the filter prove nothing"
    )
    for got_vectors, want_vectors in zip(result.colbert, expected["colbert"], strict=True):
        assert got_vectors.shape == want_vectors.shape
        assert _cosines(got_vectors, want_vectors).min() >= MIN_COSINE
        np.testing.assert_allclose(np.linalg.norm(got_vectors, axis=1), 1.0, rtol=1e-5)
    assert result.prompt_tokens == sum(expected["lengths"])


def test_each_form_alone_and_the_dense_default(m3: dict[str, Any], texts: list[str]) -> None:
    client = m3["client"]
    full = client.embed(texts, model="m3", outputs=("dense", "sparse", "colbert"))
    dense = client.embed(texts, model="m3")
    assert dense.sparse is None and dense.colbert is None
    np.testing.assert_allclose(dense.vectors, full.vectors, atol=1e-6)
    sparse = client.embed(texts, model="m3", outputs=("sparse",))
    assert sparse.vectors.shape == (len(texts), 0) and sparse.colbert is None
    assert [s.as_dict() for s in sparse.sparse or ()] == [s.as_dict() for s in full.sparse or ()]
    colbert = client.embed(texts, model="m3", outputs=["colbert"])
    for a, b in zip(colbert.colbert or (), full.colbert or (), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_long_text_answers_as_one_text(m3: dict[str, Any], corpus_sentences: list[str]) -> None:
    """Under the exported chunk policy a long text's windows answer together: dense pooled
    (token-weighted, renormalised), each id's largest weight over all windows, every window's
    vectors one after another."""
    import transformers

    text = " ".join(corpus_sentences[:40])
    tokenizer = transformers.AutoTokenizer.from_pretrained(m3["folder"])
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    room = POSITIONS - 2
    windows, start = [], 0
    while True:
        stop = min(start + room, len(ids))
        windows.append(ids[start:stop])
        if stop == len(ids):
            break
        start += room - OVERLAP
    assert len(windows) > 3
    rows = [[tokenizer.cls_token_id, *w, tokenizer.sep_token_id] for w in windows]
    reference = bge_m3_reference(m3["folder"], rows)
    weights = np.array([len(r) for r in rows], dtype=np.float64)
    dense = (reference["dense"] * weights[:, None]).sum(0)
    merged: dict[int, float] = {}
    for found in reference["sparse"]:
        for index, weight in found.items():
            merged[index] = max(merged.get(index, 0.0), weight)
    result = m3["client"].embed([text], model="m3", outputs=("dense", "sparse", "colbert"))
    assert _cosines(result.vectors[0], dense) >= MIN_COSINE
    _assert_sparse_equal((result.sparse or ())[0].as_dict(), merged)
    got = (result.colbert or ())[0]
    want = np.concatenate(reference["colbert"])
    assert got.shape == want.shape and _cosines(got, want).min() >= MIN_COSINE
    assert result.truncated == 0


def test_other_models_refuse_sparse_and_colbert(m3: dict[str, Any], minilm_server: Any) -> None:
    with EncoderClient(minilm_server.endpoints.grpc) as client:
        with pytest.raises(InvalidInputError, match="answers dense, not sparse, colbert: .*bge-m3-style"):
            client.embed(["hello"], model="minilm", outputs=("sparse", "colbert"))
    with pytest.raises(InvalidInputError, match="outputs must be among dense, sparse, colbert"):
        m3["client"].embed(["hello"], model="m3", outputs=("lexical",))


def test_the_gateway_answers_words_with_the_sparse_weights(
    m3: dict[str, Any], texts: list[str], start_gateway: Callable[..., Any]
) -> None:
    import transformers

    gateway = start_gateway(triton_url=m3["server"].endpoints.grpc, repo=m3["repo"])
    response = requests.post(
        gateway.url + "/v1/hybrid_embeddings", json={"model": "m3", "input": texts[:3]}, timeout=60
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    expected = bge_m3_reference(m3["folder"], texts[:3])
    tokenizer = transformers.AutoTokenizer.from_pretrained(m3["folder"])
    for item, want_sparse, want_colbert, want_dense in zip(
        data, expected["sparse"], expected["colbert"], expected["dense"], strict=True
    ):
        sparse = item["sparse"]
        _assert_sparse_equal(dict(zip(sparse["ids"], sparse["weights"], strict=True)), want_sparse)
        assert sparse["words"] == [tokenizer.decode([i]) for i in sparse["ids"]]
        assert _cosines(np.array(item["colbert"]), want_colbert).min() >= MIN_COSINE
        assert _cosines(np.array(item["dense"]), want_dense) >= MIN_COSINE
    only = requests.post(
        gateway.url + "/v1/hybrid_embeddings",
        json={"model": "m3", "input": "hello", "outputs": ["sparse"]},
        timeout=60,
    ).json()["data"][0]
    assert set(only) == {"index", "sparse"}
