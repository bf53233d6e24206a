"""Pieces of the embedded launcher that need no running server."""

from pathlib import Path

import pytest

from encoder_triton.server.embedded import EmbeddedTriton, EmbeddedTritonError, TritonInstall, failure_reasons


def test_finds_the_wheel_server_and_the_stub_for_this_python() -> None:
    install = TritonInstall.find()
    assert install.server.is_file() and install.stub.is_file()
    assert (install.python_backend / "libtriton_python.so").is_file()


def test_failure_reasons_come_from_tritons_model_table() -> None:
    log = [
        "+-----------+---------+------------------------------------------+",
        "| Model     | Version | Status                                   |",
        "| m_encoder | 1       | UNAVAILABLE: Internal: no model.onnx      |",
        "| m         | 1       | READY                                    |",
    ]
    assert failure_reasons(log) == ["m_encoder: UNAVAILABLE: Internal: no model.onnx"]


def test_failure_reasons_fall_back_to_error_lines() -> None:
    log = ['E1123 01:43:11.024286 3620 model_repository_manager.cc:1234] "failed to load: bad config"']
    assert failure_reasons(log) == ['"failed to load: bad config"']


def test_missing_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedTritonError, match="run `encoder-triton export` first"):
        EmbeddedTriton(tmp_path / "nope").start()
