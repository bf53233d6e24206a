"""Small pieces of issue 10: bucket padding, calibration texts, CLI plumbing, sub-batch limits."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from encoder_triton.export.fidelity.texts import REFERENCE_TEXTS
from encoder_triton.export.precision.calibration import CALIBRATION_TEXTS, load_calibration_texts
from encoder_triton.runtime.encoder import encode_in_sub_batches
from encoder_triton.runtime.tokenization import TextTokenizer, TokenBatch


def test_bucket_padding_rounds_each_batch_up_to_a_bucket(minilm_dir: Path) -> None:
    tokenizer = TextTokenizer.from_file(
        minilm_dir / "tokenizer.json", max_length=256, pad_id=0, length_buckets=(16, 32, 64, 128, 256)
    )
    short = tokenizer.encode(["hello world"])
    assert short.input_ids.shape == (1, 16) and short.lengths.tolist() == [4]
    longer = tokenizer.encode(["word " * 20])
    assert longer.input_ids.shape == (1, 32)
    assert tokenizer.encode(["word " * 1000]).input_ids.shape == (1, 256)


def test_calibration_texts_are_apart_from_the_gate_s_texts(tmp_path: Path) -> None:
    assert not set(CALIBRATION_TEXTS) & set(REFERENCE_TEXTS)
    assert load_calibration_texts(None) == CALIBRATION_TEXTS
    own = tmp_path / "texts.txt"
    own.write_text("\n".join(f"sentence number {i}" for i in range(10)) + "\n\n", encoding="utf-8")
    assert len(load_calibration_texts(own)) == 10
    own.write_text("one\ntwo\n")
    with pytest.raises(ValueError, match="at least 8"):
        load_calibration_texts(own)
    with pytest.raises(ValueError, match="one text per line"):
        load_calibration_texts(tmp_path / "missing.txt")


def test_sub_batches_respect_a_row_limit() -> None:
    lengths = [3] * 10
    mask = np.zeros((10, 3), np.int64)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    batch = TokenBatch(input_ids=np.arange(30).reshape(10, 3), attention_mask=mask)
    seen: list[int] = []

    def run(sub: TokenBatch) -> dict[str, np.ndarray]:
        seen.append(len(sub))
        return {"FIRST": sub.input_ids[:, :1].astype(np.float32), "COUNT": np.full((len(sub), 1), len(sub))}

    out = encode_in_sub_batches(run, batch, max_batch_tokens=1000, max_rows=4)
    assert seen == [4, 4, 2]
    np.testing.assert_array_equal(out["FIRST"][:, 0], np.arange(0, 30, 3))
    assert out["COUNT"][:, 0].tolist() == [4] * 8 + [2] * 2


def test_cli_export_passes_precision_options_through(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from encoder_triton import cli
    from encoder_triton.export import pipeline as export_module

    seen: dict[str, Any] = {}

    def fake_export(model: str, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise export_module.FidelityError("the int8 onnx fused encoder misses its bounds:", ["mean_cosine 0.9 < 0.99"])

    monkeypatch.setattr(export_module, "export_model", fake_export)
    texts = tmp_path / "cal.txt"
    texts.write_text("\n".join(f"text {i}" for i in range(8)))
    held_out = tmp_path / "held_out.jsonl"
    held_out.write_text(
        "\n".join(f'{{"text": "review {i}", "label": "{"pos" if i % 2 else "neg"}"}}' for i in range(8))
    )
    result = CliRunner().invoke(
        cli.app,
        [
            "export",
            "some/model",
            "--precision",
            "int8",
            "--optimize",
            "none",
            "--int8-calibration",
            "static",
            "--calibration-texts",
            str(texts),
            "--validation-texts",
            str(held_out),
            "--int8-headroom",
            "0.8",
            "--no-int8-search",
            "--no-int8-outliers",
            "--accept-degraded",
            "--backend",
            "native",
        ],
    )
    assert result.exit_code == 1
    assert "mean_cosine 0.9 < 0.99" in result.output
    build = seen["build"]
    assert (build.precision.value, build.optimize.value, build.backend.value) == ("int8", "none", "native")
    assert build.int8.mode == "static" and build.int8.headroom == 0.8 and build.accept_degraded
    assert not build.int8.search and not build.int8.outlier_split
    assert build.calibration_texts == tuple(f"text {i}" for i in range(8))
    assert build.validation_texts.texts == tuple(f"review {i}" for i in range(8))
    assert build.validation_texts.labels == ("neg", "pos") * 4


def test_cli_rejects_tensorrt_with_fusions_before_exporting() -> None:
    from encoder_triton import cli

    result = CliRunner().invoke(cli.app, ["export", "some/model", "--format", "tensorrt", "--optimize", "fuse"])
    assert result.exit_code == 1 and "contrib ops" in result.output
