"""Every registered architecture and task, end to end: tiny random models built here, exported
into ONE repository, served by ONE embedded Triton, and compared with PyTorch.

Embeddings must reach cosine >= 0.9999, classifier probabilities and rerank scores must lie
within 1e-4 of the PyTorch reference, computed here independently of the exporter's own
validation (plain `transformers` forward, mean pooling, softmax / sigmoid).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.client import EncoderClient, InvalidInputError
from tiny_models import CASES, TinyCase

pytestmark = pytest.mark.triton

MAX_ABS_ERROR = 1e-4
MIN_COSINE = 0.9999
QUERIES = ("what did the minister say", "fires near sydney", "cricket test match result")


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """All tiny cases exported side by side into one repository (a few seconds each)."""
    from encoder_triton.export.pipeline import export_model

    root = tmp_path_factory.mktemp("tiny")
    repo = root / "repo"
    folders: dict[str, Path] = {}
    results: dict[str, Any] = {}
    for case in CASES:
        folders[case.name] = case.build(root / "models" / case.name)
        results[case.name] = export_model(str(folders[case.name]), repo=repo, name=case.name)
    return {"repo": repo, "folders": folders, "results": results}


@pytest.fixture(scope="module")
def tiny_server(tiny_repo: dict[str, Any], start_triton: Any) -> Any:
    return start_triton(tiny_repo["repo"])


@pytest.fixture(scope="module")
def client(tiny_server: Any) -> Any:
    with EncoderClient(tiny_server.endpoints.grpc) as client:
        yield client


@pytest.fixture(scope="module")
def texts(corpus_sentences: list[str]) -> list[str]:
    """Real sentences of spread lengths, the longest well past the tiny models' 64 tokens."""
    by_length = sorted(set(corpus_sentences), key=len)
    picks = np.linspace(0, len(by_length) - 1, 12).astype(int)
    return [by_length[i] for i in picks]


def _torch_forward(
    folder: Path, case: TinyCase, max_length: int, first: list[str], second: list[str] | None = None
) -> Any:
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    if case.task == "embed":
        model_class = transformers.T5EncoderModel if case.model_type == "t5" else transformers.AutoModel
    else:
        model_class = transformers.AutoModelForSequenceClassification
    model = model_class.from_pretrained(folder).eval()
    truncation = "only_second" if second is not None else True
    batch = tokenizer(first, second, padding=True, truncation=truncation, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        out = model(**batch)
    if case.task != "embed":
        return out.logits.double().numpy()
    mask = batch["attention_mask"].unsqueeze(-1).double()
    return ((out.last_hidden_state.double() * mask).sum(1) / mask.sum(1)).numpy()  # mean pooling


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_served_model_matches_pytorch(case: TinyCase, tiny_repo: dict[str, Any], client: Any, texts: list[str]) -> None:
    folder = tiny_repo["folders"][case.name]
    assert tiny_repo["results"][case.name].task.value == case.task  # detected, not passed
    max_length = client.model_info(case.name).max_length
    if case.task == "embed":
        got = client.embed(texts, model=case.name).vectors
        if case.variant.startswith("st_"):  # sentence-transformers itself is the reference
            from sentence_transformers import SentenceTransformer

            expected = SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_numpy=True)
            np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
            assert client.model_info(case.name).normalized
        else:
            expected = _torch_forward(folder, case, max_length, texts)
        cosine = np.sum(got * expected, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
        assert cosine.min() >= MIN_COSINE, cosine
    elif case.task == "classify":
        result = client.classify(texts, model=case.name, top_k=3)
        logits = _torch_forward(folder, case, max_length, texts)
        if case.variant == "multi_label":
            expected = _sigmoid(logits)
            assert result.multi_label
        else:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            expected = shifted / shifted.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(result.probabilities, expected, atol=MAX_ABS_ERROR, rtol=0)
        np.testing.assert_allclose(result.logits, logits, atol=1e-3, rtol=0)
        assert result.label_names == ("negative", "neutral", "positive")
        assert result.labels == [result.label_names[i] for i in expected.argmax(axis=1)]
        assert len(set(result.labels)) > 1, "a tiny classifier that always answers the same proves little"
    else:
        for query in QUERIES:
            result = client.rerank(query, texts, model=case.name)
            logits = _torch_forward(folder, case, max_length, [query] * len(texts), texts)
            raw = logits[:, 1] - logits[:, 0] if case.variant == "two_labels" else logits[:, 0]
            expected = _sigmoid(raw)
            np.testing.assert_allclose(result.scores, expected[result.indices], atol=MAX_ABS_ERROR, rtol=0)
            np.testing.assert_allclose(result.raw_scores, raw[result.indices], atol=1e-3, rtol=0)
            assert sorted(result.indices.tolist()) == list(range(len(texts)))
            assert np.all(np.diff(result.raw_scores) <= 0), "not sorted best first"


def test_token_type_ids_and_pad_ids_are_the_models_own(tiny_repo: dict[str, Any]) -> None:
    """token_type_ids flow only to graphs that take them; the pad id is the tokenizer's."""
    import transformers

    from encoder_triton.contract.model_config import parse

    for case in CASES:
        config = parse((tiny_repo["repo"] / f"{case.name}_tokenizer" / "config.pbtxt").read_text())
        outputs = {o.name for o in config.output}
        takes_types = case.model_type in {"bert", "electra"}  # the others' graphs have no such input
        assert (contract.TOKEN_TYPE_IDS in outputs) == takes_types, case.name
        pad_id = transformers.AutoTokenizer.from_pretrained(tiny_repo["folders"][case.name]).pad_token_id
        assert config.parameters[contract.Param.PAD_ID].string_value == str(pad_id), case.name
    assert {c.model_type for c in CASES if c.model_type in {"roberta", "xlm-roberta", "mpnet", "modernbert"}}


def test_every_model_loaded_and_serve_lists_them(tiny_repo: dict[str, Any], tiny_server: Any) -> None:
    from encoder_triton.cli.serve import describe_models
    from encoder_triton.export.repository import list_ensembles

    ensembles = list_ensembles(tiny_repo["repo"])
    assert [e.name for e in ensembles] == sorted(c.name for c in CASES)
    lines = describe_models(ensembles, tiny_server.model_states())
    assert len(lines) == len(CASES), "components must be folded into their ensemble's line"
    for case, line in zip(sorted(CASES, key=lambda c: c.name), lines, strict=True):
        assert case.name in line and " READY " in line and case.task in line, line


def test_task_methods_refuse_models_of_another_task(client: Any) -> None:
    with pytest.raises(InvalidInputError, match="serves task 'embed', not 'classify': call embed\(\)"):
        client.classify(["hello"], model="tiny_bert_embed")
    with pytest.raises(InvalidInputError, match="serves task 'classify', not 'rerank'"):
        client.rerank("q", ["d"], model="tiny_bert_classify")
