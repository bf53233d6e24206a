"""What the exporter reads from a model folder: its token limit and (v5) pooling config."""

import json
from pathlib import Path
from typing import Any

import pytest

from encoder_triton.export.graph.pooling import Pooling, read_pooling
from encoder_triton.export.source.resolve import resolve_model


def _folder(tmp_path: Path, config: dict[str, Any], files: dict[str, Any] | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    for name, content in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps(content))
    return tmp_path


@pytest.mark.parametrize(
    ("config", "files", "expected"),
    [
        ({"max_position_embeddings": 512}, {"sentence_bert_config.json": {"max_seq_length": 256}}, 256),
        # sentence-transformers v5 keeps the limit in the tokenizer config only.
        (
            {"max_position_embeddings": 512},
            {"sentence_bert_config.json": {}, "tokenizer_config.json": {"model_max_length": 64}},
            64,
        ),
        ({"max_position_embeddings": 512}, {"tokenizer_config.json": {"model_max_length": 1e30}}, 512),
        ({"max_position_embeddings": 514, "model_type": "roberta", "pad_token_id": 1}, {}, 512),
        ({"max_position_embeddings": 514, "model_type": "mpnet", "pad_token_id": 1}, {}, 512),
        ({"model_type": "t5"}, {}, 512),
        ({"max_position_embeddings": 8192}, {"tokenizer_config.json": {"model_max_length": 16384}}, 8192),
    ],
    ids=["st-config", "st-v5-tokenizer", "no-limit-sentinel", "roberta-offset", "mpnet-offset", "t5", "capped"],
)
def test_max_length(tmp_path: Path, config: dict[str, Any], files: dict[str, Any], expected: int) -> None:
    assert resolve_model(str(_folder(tmp_path / "m", config, files))).max_length == expected


@pytest.mark.parametrize(
    ("pooling_config", "modes"),
    [
        ({"pooling_mode": "lasttoken"}, ("lasttoken",)),
        ({"pooling_mode": ["cls", "mean"]}, ("cls", "mean")),
        ({"pooling_mode": "mean_sqrt_len_tokens"}, ("mean_sqrt_len",)),
        ({"pooling_mode_max_tokens": True}, ("max",)),
    ],
)
def test_reads_sentence_transformers_v5_pooling(
    tmp_path: Path, pooling_config: dict[str, Any], modes: tuple[str, ...]
) -> None:
    modules = [
        {"idx": 0, "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
        {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
        {
            "idx": 2,
            "path": "2_Normalize",
            "type": "sentence_transformers.sentence_transformer.modules.normalize.Normalize",
        },
    ]
    folder = _folder(tmp_path, {}, {"modules.json": modules, "1_Pooling/config.json": pooling_config})
    assert read_pooling(folder) == Pooling(modes=modes, normalize=True, declared=True)
