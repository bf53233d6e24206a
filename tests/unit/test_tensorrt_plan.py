"""TensorRT engine settings, cache keys and the cache itself, without TensorRT."""

import builtins
import sys
from pathlib import Path

import numpy as np
import pytest

from encoder_triton.export.precision.tensorrt_plan import (
    PlanSettings,
    TensorRTBuildError,
    build_plan,
    cached_build,
    plan_cache_key,
    uniform_feeds,
)
from encoder_triton.runtime.tensorrt_runner import TensorRTUnavailableError, import_tensorrt

SETTINGS = PlanSettings(precision="fp16", max_batch_size=64, max_length=256)


def _key(data: bytes = b"graph", settings: PlanSettings = SETTINGS, version: str = "10.3", device: str = "L4") -> str:
    return plan_cache_key(data, settings, tensorrt_version=version, device=device)


def test_the_key_changes_with_graph_settings_version_and_gpu() -> None:
    base = _key()
    assert base == _key()
    others = {
        _key(data=b"graph2"),
        _key(settings=PlanSettings(precision="int8", max_batch_size=64, max_length=256)),
        _key(settings=PlanSettings(precision="fp16", max_batch_size=32, max_length=256)),
        _key(settings=PlanSettings(precision="fp16", max_batch_size=64, max_length=256, buckets=(64, 256))),
        _key(version="10.4.0"),
        _key(device="H100"),
    }
    assert base not in others and len(others) == 6


def test_settings_profiles_follow_the_length_buckets() -> None:
    profiles = SETTINGS.profiles()
    assert [p.max_shape for p in profiles] == [(64, 16), (64, 32), (64, 64), (64, 128), (64, 256)]
    assert profiles[-1].opt_shape == (32, 256)  # 8192-token budget / 256 tokens
    assert SETTINGS.to_dict()["buckets"] == [16, 32, 64, 128, 256]
    with pytest.raises(ValueError, match="precision"):
        PlanSettings(precision="int4")


def test_the_cache_builds_once_and_copies_afterwards(tmp_path: Path) -> None:
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"fake graph")
    builds: list[Path] = []

    def build(path: Path) -> bytes:
        builds.append(path)
        return b"serialized engine"

    kwargs = {"tensorrt_version": "10.3.0", "device": "L4", "build": build, "cache_dir": tmp_path / "cache"}
    first = cached_build(onnx_path, tmp_path / "a" / "model.plan", SETTINGS, **kwargs)  # type: ignore[arg-type]
    second = cached_build(onnx_path, tmp_path / "b" / "model.plan", SETTINGS, **kwargs)  # type: ignore[arg-type]
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert len(builds) == 1 and first.cache_key == second.cache_key
    assert second.path.read_bytes() == b"serialized engine"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{first.cache_key}.plan"]
    assert second.to_dict()["profiles"][0] == {"min": [1, 1], "opt": [64, 16], "max": [64, 16]}

    onnx_path.write_bytes(b"another graph")  # a changed graph must rebuild
    third = cached_build(onnx_path, tmp_path / "c" / "model.plan", SETTINGS, **kwargs)  # type: ignore[arg-type]
    assert not third.cache_hit and len(builds) == 2


def test_a_failed_build_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"graph")

    def build(path: Path) -> bytes:
        raise TensorRTBuildError("parse error")

    with pytest.raises(TensorRTBuildError):
        cached_build(
            onnx_path,
            tmp_path / "model.plan",
            SETTINGS,
            tensorrt_version="10",
            device="x",
            build=build,
            cache_dir=tmp_path / "cache",
        )
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_missing_tensorrt_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_import = builtins.__import__

    def no_tensorrt(name: str, *args: object, **kwargs: object) -> object:
        if name == "tensorrt":
            raise ImportError("No module named 'tensorrt'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_tensorrt)
    with pytest.raises(TensorRTUnavailableError, match="pip install tensorrt"):
        import_tensorrt()
    with pytest.raises(TensorRTBuildError, match="cannot build a TensorRT engine: .*pip install tensorrt"):
        build_plan(tmp_path / "model.onnx", tmp_path / "model.plan", SETTINGS)


def test_calibration_feeds_are_cut_to_one_fixed_shape() -> None:
    feeds = [
        {"input_ids": np.ones((5, 7), np.int64), "attention_mask": np.ones((5, 7), np.int64)},
        {"input_ids": np.ones((6, 12), np.int64), "attention_mask": np.ones((6, 12), np.int64)},
    ]
    uniform = uniform_feeds(feeds, rows=4)
    assert len(uniform) == 2  # 11 rows -> two batches of 4, the remainder dropped
    assert all(f["input_ids"].shape == (4, 12) for f in uniform)
    assert uniform[0]["attention_mask"][0].tolist() == [1] * 7 + [0] * 5
    with pytest.raises(ValueError, match="at least 16"):
        uniform_feeds(feeds, rows=16)
