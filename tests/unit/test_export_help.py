"""`encoder-triton export --help` documents the task choice (no model needed)."""

from typer.testing import CliRunner

from encoder_triton.cli import app


def test_export_help_documents_the_tasks() -> None:
    output = " ".join(CliRunner().invoke(app, ["export", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "The task (embed, classify or rerank) is detected from the model's files unless --task is given" in output
    assert "embed|classify|rerank" in output
