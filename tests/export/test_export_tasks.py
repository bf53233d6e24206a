"""Exporting tiny torch models by task without a server: --task overrides, refusals, notes,
reports, failures."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from encoder_triton import contract
from encoder_triton.cli import app
from encoder_triton.contract.model_config import parse
from encoder_triton.errors import FidelityError
from encoder_triton.export.pipeline import export_model
from tiny_models import build_tiny_model

pytestmark = pytest.mark.export


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_models")
    return {
        "classifier": build_tiny_model("distilbert", "classify", root / "classifier"),
        "encoder": build_tiny_model("distilbert", "embed", root / "encoder"),
    }


def _ensemble_params(repo: Path, name: str) -> dict[str, str]:
    config = parse((repo / name / "config.pbtxt").read_text())
    return {k: v.string_value for k, v in config.parameters.items()}


def test_cli_task_overrides_detection(models: dict[str, Path], tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = CliRunner().invoke(
        app, ["export", str(models["classifier"]), "--repo", str(repo), "--name", "as_embedder", "--task", "embed"]
    )
    assert result.exit_code == 0, result.output
    assert "as_embedder (embed)" in result.output
    assert _ensemble_params(repo, "as_embedder")[contract.Param.TASK] == "embed"
    report = json.loads((repo / "as_embedder_encoder" / "1" / "export_report.json").read_text())
    assert (report["task"], report["task_reason"], report["architecture"]) == ("embed", "set by --task", "distilbert")


def test_cli_refuses_a_task_the_checkpoint_cannot_serve(models: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(models["encoder"]), "--repo", str(tmp_path), "--task", "classify"])
    assert result.exit_code == 1
    assert "needs a *ForSequenceClassification checkpoint" in result.output
    assert runner.invoke(app, ["export", str(models["encoder"]), "--task", "summarize"]).exit_code == 2
    assert not any(tmp_path.iterdir()), "a refused export writes nothing"


def test_a_detected_classifier_reports_labels_and_agreement(models: dict[str, Path], tmp_path: Path) -> None:
    result = export_model(str(models["classifier"]), repo=tmp_path, name="sentiment")
    assert result.task is contract.Task.CLASSIFY and result.notes == []
    assert result.fidelity.label_agreement == 1.0
    assert result.fidelity.max_abs_error <= 1e-4
    params = _ensemble_params(tmp_path, "sentiment")
    assert json.loads(params[contract.Param.LABELS]) == ["negative", "neutral", "positive"]
    assert params[contract.Param.ACTIVATION] == "softmax"


def test_a_plain_encoder_says_it_fell_back_to_mean_pooling(models: dict[str, Path], tmp_path: Path) -> None:
    result = export_model(str(models["encoder"]), repo=tmp_path)
    assert result.task is contract.Task.EMBED
    assert any(note.startswith("task: no sentence-transformers files") for note in result.notes)
    assert any("mean pooling" in note for note in result.notes)


def test_every_disagreeing_row_is_reported_and_nothing_written(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FidelityError) as failure:
        export_model(str(models["classifier"]), repo=tmp_path / "repo", max_abs_error=-1.0)
    assert "the ONNX export of" in str(failure.value)  # an export bug, not a precision loss
    (line,) = failure.value.failures  # one failing check ...
    assert line.startswith("max_abs_error") and line.endswith("(24 of 24)")  # ... naming every reference text
    assert not (tmp_path / "repo").exists()
