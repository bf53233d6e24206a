"""Configs of classifier and reranker ensembles (golden files), and reading a repository back."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from encoder_triton import contract
from encoder_triton.contract.model_config import parse, render
from encoder_triton.export.repository import (
    EncoderSpec,
    ServingOptions,
    WarmupSample,
    list_ensembles,
    repository_configs,
    write_repository,
)

GOLDEN = Path(__file__).parent / "golden"
INPUTS = (contract.INPUT_IDS, contract.ATTENTION_MASK)
CLASSIFIER = EncoderSpec(
    task=contract.Task.CLASSIFY,
    dimension=3,
    max_length=128,
    pad_id=1,
    encoder_inputs=INPUTS,
    source_model="cardiffnlp/twitter-roberta-base-sentiment-latest",
    labels=("negative", "neutral", "positive"),
    activation=contract.Activation.SOFTMAX,
)
RERANKER = EncoderSpec(
    task=contract.Task.RERANK,
    dimension=1,
    max_length=512,
    pad_id=0,
    encoder_inputs=(*INPUTS, contract.TOKEN_TYPE_IDS),
    source_model="cross-encoder/ms-marco-MiniLM-L-6-v2",
)
TOKENS = {name: np.zeros(6, dtype=np.int64) for name in RERANKER.encoder_inputs}


@pytest.mark.parametrize(
    ("name", "spec", "index"),
    [
        ("sentiment", CLASSIFIER, 0),
        ("sentiment", CLASSIFIER, 2),
        ("reranker", RERANKER, 0),
        ("reranker", RERANKER, 1),
        ("reranker", RERANKER, 2),
    ],
    ids=["classify-ensemble", "classify-encoder", "rerank-ensemble", "rerank-tokenizer", "rerank-encoder"],
)
def test_task_configs_match_golden_files(name: str, spec: EncoderSpec, index: int) -> None:
    warmup = WarmupSample("a document", TOKENS, query="a query" if spec.task is contract.Task.RERANK else None)
    config = repository_configs(name, spec, ServingOptions(), warmup)[index]
    text = render(config)
    golden = GOLDEN / f"{config.name}.pbtxt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_classifier_ensemble_carries_labels_and_activation_for_clients() -> None:
    ensemble = parse(render(repository_configs("sentiment", CLASSIFIER, ServingOptions())[0]))
    params = {k: v.string_value for k, v in ensemble.parameters.items()}
    assert json.loads(params[contract.Param.LABELS]) == ["negative", "neutral", "positive"]
    assert params[contract.Param.ACTIVATION] == "softmax"
    assert [o.name for o in ensemble.output] == [
        contract.LOGITS,
        contract.PROBABILITIES,
        contract.TOKEN_COUNT,
        contract.TRUNCATED,
    ]
    assert [list(o.dims) for o in ensemble.output] == [[3], [3], [1], [1]]


def test_reranker_takes_query_and_text_in_every_step() -> None:
    ensemble, tokenizer, encoder = (
        parse(render(c)) for c in repository_configs("reranker", RERANKER, ServingOptions())
    )
    assert [i.name for i in ensemble.input] == [contract.QUERY, contract.TEXT]
    assert [i.name for i in tokenizer.input] == [contract.QUERY, contract.TEXT]
    assert dict(ensemble.ensemble_scheduling.step[0].input_map) == {
        contract.QUERY: contract.QUERY,
        contract.TEXT: contract.TEXT,
    }
    assert [o.name for o in encoder.output] == [contract.SCORE, contract.RAW_SCORE]


def test_invalid_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="needs 3 labels"):
        EncoderSpec(
            task=contract.Task.CLASSIFY, dimension=3, max_length=8, pad_id=0, encoder_inputs=INPUTS, source_model="m"
        )
    with pytest.raises(ValueError, match="dimension 1"):
        EncoderSpec(
            task=contract.Task.RERANK, dimension=2, max_length=8, pad_id=0, encoder_inputs=INPUTS, source_model="m"
        )


def test_several_models_in_one_repository_are_listed_with_their_tasks(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for name, spec in (("sentiment", CLASSIFIER), ("reranker", RERANKER)):
        tokenizer_dir, encoder_dir = tmp_path / name / "t", tmp_path / name / "e"
        tokenizer_dir.mkdir(parents=True)
        encoder_dir.mkdir(parents=True)
        warmup = WarmupSample("doc", TOKENS, query="q" if spec.task is contract.Task.RERANK else None)
        write_repository(
            repo, name, spec, ServingOptions(), tokenizer_dir=tokenizer_dir, encoder_dir=encoder_dir, warmup=warmup
        )
    (repo / "foreign").mkdir()
    (repo / "foreign" / "config.pbtxt").write_text('name: "foreign"\nbackend: "python"\n')
    # Rerank warmups send both texts, length-prefixed.
    assert sorted(p.name for p in (repo / "reranker_tokenizer" / "warmup").iterdir()) == ["query", "text"]
    assert (repo / "reranker_tokenizer" / "warmup" / "query").read_bytes() == b"\x01\x00\x00\x00q"

    ensembles = list_ensembles(repo)
    assert [(e.name, e.task) for e in ensembles] == [("reranker", "rerank"), ("sentiment", "classify")]
    assert ensembles[1].labels == ("negative", "neutral", "positive")
    assert ensembles[0].components == ("reranker_tokenizer", "reranker_encoder")

    from encoder_triton.cli.serve import describe_models

    states = {n: {"state": "READY"} for n in ("reranker", "reranker_tokenizer", "reranker_encoder", "sentiment")}
    states |= {
        "sentiment_tokenizer": {"state": "READY"},
        "sentiment_encoder": {"state": "UNAVAILABLE"},
        "foreign": {"state": "READY"},
    }
    lines = describe_models(ensembles, states)
    assert len(lines) == 3
    assert "reranker" in lines[0] and "rerank" in lines[0] and "READY" in lines[0]
    assert "3 labels: negative, neutral, positive" in lines[1] and "[sentiment_encoder UNAVAILABLE]" in lines[1]
    assert lines[2] == "  other models: foreign (READY)"
