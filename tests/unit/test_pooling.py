"""Reading the pooling config (fold_pooling against sentence-transformers' arithmetic:
tests/export/test_pooling_reference.py)."""

import json
from pathlib import Path

import pytest

from encoder_triton.export.graph.pooling import Pooling, read_pooling


def test_reads_sentence_transformers_pooling(minilm_dir: Path) -> None:
    assert read_pooling(minilm_dir) == Pooling(modes=("mean",), normalize=True, declared=True)


def test_plain_encoder_falls_back_to_mean_without_normalisation(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert read_pooling(tmp_path) == Pooling(modes=("mean",), normalize=False, declared=False)


def test_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError, match="pooling modes"):
        Pooling(modes=("median",))
