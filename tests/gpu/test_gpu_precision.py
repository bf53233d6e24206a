"""fp16 and TensorRT on a real GPU: build, serve on the embedded Triton, compare with PyTorch.

Skipped without an NVIDIA GPU (see conftest). They also need a CUDA build of onnxruntime
(onnxruntime-gpu) for fp16, and `tensorrt` 10 plus a CUDA torch for the engine; a missing piece
skips with the reason. None of our machines has those, so these tests have never run here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from encoder_triton.client import EncoderClient

pytestmark = [pytest.mark.gpu, pytest.mark.triton, pytest.mark.slow]


def _need_cuda_onnxruntime() -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDAExecutionProvider: pip install onnxruntime-gpu")


def _need_tensorrt() -> None:
    pytest.importorskip("tensorrt", reason="pip install tensorrt (10.x)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")


@pytest.fixture(scope="module")
def st_model(minilm_dir: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir), device="cpu")


def _served_cosines(server: Any, st_model: Any, name: str, texts: list[str]) -> np.ndarray:
    expected = st_model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    with EncoderClient(server.endpoints.grpc) as client:
        got = np.concatenate([client.embed(texts[i : i + 32], model=name).vectors for i in range(0, len(texts), 32)])
    return np.sum(got * expected, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))


def test_fp16_on_gpu_instances_matches_pytorch(
    minilm_dir: Path, tmp_path: Path, start_triton: Any, st_model: Any, corpus_sentences: list[str]
) -> None:
    _need_cuda_onnxruntime()
    from encoder_triton.contract import Precision
    from encoder_triton.export.pipeline import export_model
    from encoder_triton.export.precision.build import BuildOptions

    export_model(str(minilm_dir), repo=tmp_path, name="half", build=BuildOptions(precision=Precision.FP16))
    report = json.loads((tmp_path / "half_encoder" / "1" / "export_report.json").read_text())
    assert report["fidelity"]["passed"] and report["fidelity"]["runner"][0] == "CUDAExecutionProvider"
    server = start_triton(tmp_path)
    cosine = _served_cosines(server, st_model, "half", corpus_sentences[:128])
    assert cosine.min() >= 0.999


def test_tensorrt_engine_is_built_cached_served_and_faithful(
    minilm_dir: Path, tmp_path: Path, start_triton: Any, st_model: Any, corpus_sentences: list[str]
) -> None:
    _need_tensorrt()
    from encoder_triton.contract import Precision
    from encoder_triton.export.pipeline import export_model
    from encoder_triton.export.precision.build import BuildOptions
    from encoder_triton.export.precision.execution import ArtifactFormat
    from encoder_triton.export.repository import ServingOptions

    build = BuildOptions(
        precision=Precision.FP16, format=ArtifactFormat.TENSORRT, tensorrt_cache_dir=tmp_path / "cache"
    )
    options = ServingOptions(max_batch_size=128, max_batch_tokens=128 * 128)
    repo = tmp_path / "repo"
    export_model(str(minilm_dir), repo=repo, name="trt", build=build, options=options)
    report = json.loads((repo / "trt_encoder" / "1" / "export_report.json").read_text())
    assert report["fidelity"]["passed"] and report["fidelity"]["runner"] == ["TensorRT"]
    assert not report["tensorrt"]["cache_hit"] and (repo / "trt_encoder" / "1" / "model.plan").exists()
    # The same graph and settings again: the cached engine is reused.
    export_model(str(minilm_dir), repo=repo, name="trt_again", build=build, options=options)
    assert json.loads((repo / "trt_again_encoder" / "1" / "export_report.json").read_text())["tensorrt"]["cache_hit"]

    server = start_triton(repo)
    cosine = _served_cosines(server, st_model, "trt", corpus_sentences[:128])
    assert cosine.min() >= 0.999

    # Throughput in-process at sequence 128 (printed for the notes, never gated).
    from encoder_triton.runtime.tensorrt_runner import TensorRTEncoder
    from encoder_triton.runtime.tokenization import TokenBatch

    encoder = TensorRTEncoder(repo / "trt_encoder" / "1" / "model.plan", max_batch_tokens=128 * 128)
    for rows in (1, 32, 128):
        ids = np.full((rows, 128), 1000, np.int64)
        batch = TokenBatch(input_ids=ids, attention_mask=np.ones_like(ids), token_type_ids=np.zeros_like(ids))
        encoder.run(batch)
        started, done = time.perf_counter(), 0
        while time.perf_counter() - started < 2.0:
            encoder.run(batch)
            done += rows
        print(f"TensorRT fp16 seq 128 batch {rows}: {done / (time.perf_counter() - started):.0f} texts/s")
