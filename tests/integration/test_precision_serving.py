"""fp32, optimised fp32 and int8 all-MiniLM-L6-v2 side by side on one embedded Triton, each
checked against sentence-transformers: by the export-time gate and through the server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton.client import EncoderClient

pytestmark = [pytest.mark.triton, pytest.mark.slow]

VARIANTS = ("minilm_fp32", "minilm_opt", "minilm_int8")


@pytest.fixture(scope="module")
def precision_repo(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    from encoder_triton.contract import Precision
    from encoder_triton.export.pipeline import export_model
    from encoder_triton.export.precision.build import BuildOptions
    from encoder_triton.export.precision.execution import Optimize

    repo = tmp_path_factory.mktemp("precision_repo")
    export_model(str(minilm_dir), repo=repo, name="minilm_fp32")
    export_model(str(minilm_dir), repo=repo, name="minilm_opt", build=BuildOptions(optimize=Optimize.FUSE))
    export_model(str(minilm_dir), repo=repo, name="minilm_int8", build=BuildOptions(precision=Precision.INT8))
    return repo


@pytest.fixture(scope="module")
def precision_server(precision_repo: Path, start_triton: Any) -> Any:
    return start_triton(precision_repo)


@pytest.fixture(scope="module")
def st_model(minilm_dir: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir), device="cpu")


def _report(repo: Path, name: str) -> dict[str, Any]:
    return json.loads((repo / f"{name}_encoder" / "1" / "export_report.json").read_text())


def _spread(sentences: list[str], count: int) -> list[str]:
    """`count` distinct sentences spread over the whole length distribution."""
    by_length = sorted(set(sentences), key=len)
    return [by_length[i] for i in np.linspace(0, len(by_length) - 1, count).astype(int)]


def _cosines(server: Any, st_model: Any, name: str, texts: list[str]) -> np.ndarray:
    expected = st_model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    with EncoderClient(server.endpoints.grpc) as client:
        got = np.concatenate([client.embed(texts[i : i + 32], model=name).vectors for i in range(0, len(texts), 32)])
    assert got.shape == expected.shape
    return np.sum(got * expected, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))


def test_every_variant_passed_its_gate_and_reports_how(precision_repo: Path) -> None:
    fp32, opt, int8 = (_report(precision_repo, name) for name in VARIANTS)
    for report, precision in ((fp32, "fp32"), (opt, "fp32"), (int8, "int8")):
        assert report["precision"] == precision and report["fidelity"]["passed"]
        assert report["fidelity"]["runner"] == ["CPUExecutionProvider"]
        assert report["export_time_s"] > 0 and report["size_bytes"] > 0
    assert fp32["optimize"] == {"level": "none"} and fp32["fidelity"]["metrics"]["min_cosine"] >= 0.9999
    assert opt["optimize"]["fused"]["Attention"] == 6 and opt["fidelity"]["metrics"]["min_cosine"] >= 0.9999
    metrics = int8["fidelity"]["metrics"]
    assert metrics["min_cosine"] >= 0.98 and metrics["mean_cosine"] >= 0.99
    assert int8["fidelity"]["thresholds"] == {"min_cosine": 0.98, "mean_cosine": 0.99}
    # int8 balances the LayerNorm outputs' channels (channel 99 and its like move into the weights),
    # splits the GELU spikes off to fp32, and needs no node kept in fp32 for that: one quantisation.
    outliers = {o["node"]: o for o in int8["int8"]["outlier_channels"]}
    up = outliers["/encoder/layer.0/intermediate/dense/MatMul"]
    assert up["balanced"]["channels"] == 384 and not up["split_fp32"] and up["range_after"] < up["range_before"] / 3
    assert any(o["split_fp32"] for o in outliers.values())
    assert int8["kept_fp32"] == [] and int8["int8"]["quantise_trials"] == 1
    assert int8["int8"]["quantized_nodes"] == 25
    assert int8["size_bytes"] < 0.5 * int8["fp32_size_bytes"]


BOUNDS = [(VARIANTS[0], 0.9999, 0.9999), (VARIANTS[1], 0.9999, 0.9999), (VARIANTS[2], 0.98, 0.99)]


@pytest.mark.parametrize(("name", "min_cos", "mean_cos"), BOUNDS)
def test_served_variants_match_sentence_transformers(
    precision_server: Any, st_model: Any, corpus_sentences: list[str], name: str, min_cos: float, mean_cos: float
) -> None:
    texts = _spread(corpus_sentences, 96) + ["ok", "Hello world", "a"]
    cosine = _cosines(precision_server, st_model, name, texts)
    worst = int(np.argmin(cosine))
    assert cosine.min() >= min_cos, f"{name}: text {worst} {texts[worst][:60]!r}: cos {cosine[worst]:.5f}"
    assert cosine.mean() >= mean_cos


def test_int8_holds_on_200_real_sentences_it_never_saw(
    precision_server: Any, st_model: Any, corpus_sentences: list[str]
) -> None:
    from encoder_triton.export.fidelity.texts import REFERENCE_TEXTS

    texts = _spread(corpus_sentences[1::2], 200)  # a different pick from the other tests'
    cosine = _cosines(precision_server, st_model, "minilm_int8", texts + list(REFERENCE_TEXTS))
    corpus, gate = cosine[: len(texts)], cosine[len(texts) :]
    print(
        f"int8 on {len(texts)} corpus sentences: min {corpus.min():.5f} mean {corpus.mean():.5f}; "
        f"gate texts min {gate.min():.5f}"
    )
    assert corpus.min() >= 0.98 and corpus.mean() >= 0.99
    assert gate.min() >= 0.98 and gate.mean() >= 0.99  # served as Triton batches them, not as the gate did
