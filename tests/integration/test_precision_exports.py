"""Exports that exercise the gate's decisions and the other layouts, without a server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from encoder_triton.contract import Precision
from encoder_triton.contract.model_config import parse
from encoder_triton.errors import FidelityError
from encoder_triton.export.fidelity import Thresholds
from encoder_triton.export.pipeline import export_model
from encoder_triton.export.precision.build import BuildOptions
from encoder_triton.export.precision.execution import Backend
from tiny_models import build_tiny_model

pytestmark = pytest.mark.slow

#: A bound no export can meet: cosine never exceeds 1.
IMPOSSIBLE = Thresholds(min_cosine=1.0 + 1e-9)


def _report(repo: Path, name: str) -> dict:
    return json.loads((repo / f"{name}_encoder" / "1" / "export_report.json").read_text())


def test_below_the_bounds_the_export_fails_with_the_numbers_unless_accepted(minilm_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FidelityError) as caught:
        export_model(str(minilm_dir), repo=tmp_path, name="strict", build=BuildOptions(thresholds=IMPOSSIBLE))
    message = str(caught.value)
    assert "misses its fidelity bounds" in message and "--accept-degraded" in message
    assert "min_cosine 1 < 1.000000001 (fp32); worst texts: " in message
    assert not (tmp_path / "strict").exists()

    accepted = BuildOptions(thresholds=IMPOSSIBLE, accept_degraded=True, backend=Backend.NATIVE)
    result = export_model(str(minilm_dir), repo=tmp_path, name="lenient", build=accepted)
    assert result.gate is not None and result.gate.accepted_degraded and not result.gate.passed
    report = _report(tmp_path, "lenient")
    assert report["fidelity"]["accepted_degraded"] and not report["fidelity"]["passed"]
    assert any("--accept-degraded" in note for note in report["notes"])

    # ... and the native layout: Triton's onnxruntime backend, bucket padding, no model.py.
    encoder = parse((tmp_path / "lenient_encoder" / "config.pbtxt").read_text())
    tokenizer = parse((tmp_path / "lenient_tokenizer" / "config.pbtxt").read_text())
    assert encoder.backend == "onnxruntime" and encoder.default_model_filename == "model.onnx"
    assert tokenizer.parameters["length_buckets"].string_value == "16,32,64,128,256"
    files = sorted(p.name for p in (tmp_path / "lenient_encoder" / "1").iterdir())
    assert files == ["export_report.json", "model.onnx"]


def test_fp16_is_gated_here_on_the_cpu_provider(minilm_dir: Path, tmp_path: Path) -> None:
    result = export_model(str(minilm_dir), repo=tmp_path, name="half", build=BuildOptions(precision=Precision.FP16))
    report = _report(tmp_path, "half")
    assert report["precision"] == "fp16" and report["device"] == "gpu"
    # No GPU here: ONNX Runtime's CPU provider runs the fp16 graph for the gate.
    assert report["fidelity"]["passed"] and report["fidelity"]["runner"] == ["CPUExecutionProvider"]
    assert result.gate is not None and result.gate.min_cosine >= 0.999
    assert report["optimize"]["for_gpu"] and report["fp16"]["io"] == "fp32"
    assert any(node.startswith("et_pool/") for node in report["fp16"]["kept_fp32_nodes"])
    assert report["size_bytes"] < 0.6 * report["fp32_size_bytes"]
    encoder = parse((tmp_path / "half_encoder" / "config.pbtxt").read_text())
    assert encoder.instance_group[0].kind == encoder.instance_group[0].KIND_GPU
    assert encoder.parameters["encoder_triton.precision"].string_value == "fp16"


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model("bert", "embed", tmp_path_factory.mktemp("tiny") / "bert", variant="st_mean")


def _counting(calls: Counter[str], key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` itself, counting its calls under `key` (a spy: the real code still runs)."""

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[key] += 1
        return fn(*args, **kwargs)

    return counted


def test_an_fp32_export_served_as_is_is_compared_with_pytorch_once(
    tiny_embedder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from encoder_triton.export import pipeline
    from encoder_triton.runtime.encoder import OnnxEncoder

    calls: Counter[str] = Counter()
    monkeypatch.setattr(OnnxEncoder, "encode_outputs", _counting(calls, "model runs", OnnxEncoder.encode_outputs))
    monkeypatch.setattr(pipeline, "evaluate", _counting(calls, "comparisons", pipeline.evaluate))
    monkeypatch.setattr(pipeline, "run_for_gate", _counting(calls, "gate runs", pipeline.run_for_gate))

    result = export_model(str(tiny_embedder), repo=tmp_path, name="plain")
    assert calls == {"model runs": 1, "comparisons": 1}
    assert result.gate is result.fidelity and result.fidelity.passed
    report = _report(tmp_path, "plain")
    assert report["fidelity"] == report["fp32_fidelity"] and report["fidelity"]["artefact"] == "fp32 ONNX export"
    assert report["fidelity"]["runner"] == ["CPUExecutionProvider"]

    # The same graph for Triton's onnxruntime backend is another way to run it: gated on its own.
    calls.clear()
    native = export_model(str(tiny_embedder), repo=tmp_path, name="native", build=BuildOptions(backend=Backend.NATIVE))
    assert calls == {"model runs": 2, "comparisons": 2, "gate runs": 1}
    assert native.gate is not None and native.gate is not native.fidelity and native.gate.passed
    assert _report(tmp_path, "native")["fidelity"]["artefact"] == "fp32 onnx"
