"""TensorRT engines built from the exported ONNX, cached by content hash.

The build parses the *plain* fp32 graph (TensorRT does not take ONNX Runtime's contrib ops, so
no offline fusion first), adds one optimisation profile per sequence-length bucket (see
`runtime.shape_buckets`), sets the FP16 / INT8 builder flags, and keeps the pooling and
normalisation layers in fp32 (their sums of squares overflow fp16; their epsilon underflows).
INT8 calibrates with real texts through an entropy calibrator.

Building takes minutes, so engines are cached under `<cache>/tensorrt/<key>.plan`, where the
key hashes the ONNX bytes, the build settings, the TensorRT version and the GPU: an engine only
runs on the TensorRT version and GPU model it was built for, and any change to the graph or
settings must rebuild it.

`tensorrt` (10.x) is imported inside the functions that need it: nothing here is needed to
export ONNX. None of our machines has TensorRT; the build is exercised by `gpu` tests only.

Example:
    >>> settings = PlanSettings(precision="fp16", max_batch_size=64, max_length=256)
    >>> len(settings.profiles())
    5
    >>> key = plan_cache_key(b"onnx bytes", settings, tensorrt_version="10.3.0", device="H100")
    >>> len(key)
    64
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encoder_triton.contract.params import DEFAULT_MAX_BATCH_TOKENS
from encoder_triton.errors import TensorRTBuildError, TensorRTUnavailableError
from encoder_triton.runtime.providers import cache_root
from encoder_triton.runtime.shape_buckets import Profile, length_buckets, optimization_profiles
from encoder_triton.runtime.tensorrt_runner import import_tensorrt

PLAN_FILE = "model.plan"
#: Layers named with this prefix (pooling and normalisation) are pinned to fp32.
FP32_LAYER_PREFIX = "et_pool/"
#: Bumped when the way we build changes, so old cached engines are not reused.
_BUILD_RECIPE = 1


@dataclass(frozen=True)
class PlanSettings:
    """Everything that changes the engine, and so its cache key."""

    precision: str = "fp16"  # fp32, fp16 or int8 (int8 also allows fp16 kernels)
    max_batch_size: int = 64
    max_length: int = 512
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    buckets: tuple[int, ...] = ()  # empty: powers of two up to max_length
    workspace_bytes: int = 4 << 30

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "fp16", "int8"):
            raise ValueError(f"TensorRT precision must be fp32, fp16 or int8, got {self.precision!r}")
        if self.max_batch_size < 1 or self.max_length < 1:
            raise ValueError("TensorRT engines need max_batch_size >= 1 and max_length >= 1")

    def length_buckets(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.buckets))) or length_buckets(self.max_length)

    def profiles(self) -> tuple[Profile, ...]:
        return optimization_profiles(self.max_batch_size, self.length_buckets(), max_batch_tokens=self.max_batch_tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "max_batch_size": self.max_batch_size,
            "max_length": self.max_length,
            "max_batch_tokens": self.max_batch_tokens,
            "buckets": list(self.length_buckets()),
            "workspace_bytes": self.workspace_bytes,
            "recipe": _BUILD_RECIPE,
        }


def plan_cache_key(onnx_bytes: bytes, settings: PlanSettings, *, tensorrt_version: str, device: str) -> str:
    """sha256 over the graph, the settings, the TensorRT version and the GPU model."""
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(onnx_bytes).digest())
    meta = {"settings": settings.to_dict(), "tensorrt": tensorrt_version, "device": device}
    digest.update(json.dumps(meta, sort_keys=True).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class PlanArtifact:
    path: Path
    cache_key: str
    cache_hit: bool
    tensorrt_version: str
    device: str
    settings: PlanSettings
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cache_key": self.cache_key,
            "cache_hit": self.cache_hit,
            "tensorrt_version": self.tensorrt_version,
            "device": self.device,
            "settings": self.settings.to_dict(),
            "profiles": [p.to_dict() for p in self.settings.profiles()],
        }


def cached_build(
    onnx_path: Path,
    out_path: Path,
    settings: PlanSettings,
    *,
    tensorrt_version: str,
    device: str,
    build: Any,
    cache_dir: Path | None = None,
) -> PlanArtifact:
    """Copy the cached engine for this (graph, settings, version, device) to `out_path`, or
    call `build(onnx_path) -> bytes`, cache the result atomically and copy it.

    Separated from TensorRT so the cache logic is tested without it.
    """
    cache_dir = cache_dir or cache_root() / "tensorrt"
    key = plan_cache_key(onnx_bytes(onnx_path), settings, tensorrt_version=tensorrt_version, device=device)
    cached = cache_dir / f"{key}.plan"
    hit = cached.is_file()
    if not hit:
        plan = build(onnx_path)
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Write then rename: a build killed halfway must never leave a truncated engine behind.
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".partial", delete=False) as handle:
            handle.write(plan)
        os.replace(handle.name, cached)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, out_path)
    return PlanArtifact(
        path=out_path,
        cache_key=key,
        cache_hit=hit,
        tensorrt_version=tensorrt_version,
        device=device,
        settings=settings,
    )


def onnx_bytes(onnx_path: Path) -> bytes:
    """The graph and, for big models, its external weights: what the engine is built from."""
    data = onnx_path.read_bytes()
    external = onnx_path.with_name(onnx_path.name + ".data")
    return data + external.read_bytes() if external.exists() else data


def build_plan(
    onnx_path: Path,
    out_path: Path,
    settings: PlanSettings,
    *,
    calibration: Sequence[dict[str, Any]] = (),
    cache_dir: Path | None = None,
) -> PlanArtifact:
    """Build (or fetch from the cache) an engine for `onnx_path` into `out_path`.

    `calibration`: token feeds (input name -> int64 array) of real texts, needed for INT8.
    """
    try:
        trt = import_tensorrt()
        import torch
    except (TensorRTUnavailableError, ImportError) as exc:
        raise TensorRTBuildError(f"cannot build a TensorRT engine: {exc}") from exc
    if not torch.cuda.is_available():
        raise TensorRTBuildError(
            "cannot build a TensorRT engine: no CUDA device is visible. Build on the GPU model you serve on "
            "(engines are GPU-specific), or export --format onnx"
        )
    if settings.precision == "int8" and not calibration:
        raise TensorRTBuildError("a TensorRT INT8 engine needs calibration texts; pass --calibration-texts")
    device = f"{torch.cuda.get_device_name()} sm{''.join(map(str, torch.cuda.get_device_capability()))}"

    def build(path: Path) -> bytes:
        return _build_serialized(trt, path, settings, calibration)

    return cached_build(
        onnx_path,
        out_path,
        settings,
        tensorrt_version=str(trt.__version__),
        device=device,
        build=build,
        cache_dir=cache_dir,
    )


def _build_serialized(
    trt: Any, onnx_path: Path, settings: PlanSettings, calibration: Sequence[dict[str, Any]]
) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTBuildError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
    if settings.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    profiles = settings.profiles()
    for profile in profiles:
        trt_profile = builder.create_optimization_profile()
        for tensor in inputs:
            trt_profile.set_shape(tensor.name, profile.min_shape, profile.opt_shape, profile.max_shape)
        config.add_optimization_profile(trt_profile)
    if settings.precision != "fp32":
        # Pooling and normalisation stay fp32 (overflow / underflow in fp16, see fp16.py).
        for index in range(network.num_layers):
            layer = network.get_layer(index)
            if layer.name.startswith(FP32_LAYER_PREFIX):
                layer.precision = trt.float32
                for output in range(layer.num_outputs):
                    if layer.get_output_type(output) == trt.float16:
                        layer.set_output_type(output, trt.float32)
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    if settings.precision == "int8":
        feeds = uniform_feeds(calibration, rows=8)
        rows, width = next(iter(feeds[0].values())).shape
        # Calibration runs at the calibration profile's opt shape: one fixed shape for every batch.
        calibration_profile = builder.create_optimization_profile()
        for tensor in inputs:
            calibration_profile.set_shape(tensor.name, (rows, width), (rows, width), (rows, width))
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _calibrator(trt, feeds)
        config.set_calibration_profile(calibration_profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTBuildError(
            f"TensorRT failed to build an engine for {onnx_path.name} ({settings.precision}); its log above says why"
        )
    return bytes(serialized)


def uniform_feeds(feeds: Sequence[dict[str, Any]], rows: int) -> list[dict[str, Any]]:
    """Token feeds re-cut into batches of exactly `rows` x the widest length (zero padding):
    TensorRT calibrates at one fixed shape. A remainder smaller than `rows` is dropped."""
    import numpy as np

    if not feeds:
        raise ValueError("no calibration feeds")
    width = max(int(next(iter(f.values())).shape[1]) for f in feeds)
    names = list(feeds[0])
    stacked = {
        name: np.concatenate([np.pad(f[name], ((0, 0), (0, width - f[name].shape[1]))) for f in feeds])
        for name in names
    }
    total = len(stacked[names[0]])
    if total < rows:
        raise ValueError(f"calibration needs at least {rows} texts, got {total}")
    return [{name: stacked[name][start : start + rows] for name in names} for start in range(0, total - rows + 1, rows)]


def _calibrator(trt: Any, feeds: Sequence[dict[str, Any]]) -> Any:
    """An entropy calibrator that replays real token batches on the GPU."""
    import torch

    if not hasattr(trt, "IInt8EntropyCalibrator2"):
        raise TensorRTBuildError(
            f"TensorRT {trt.__version__} has no implicit INT8 calibration; export --precision fp16 "
            "for TensorRT, or int8 ONNX for ONNX Runtime"
        )

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self._batches = iter(feeds)
            self._device: list[Any] = []
            self._rows = int(next(iter(feeds[0].values())).shape[0])

        def get_batch_size(self) -> int:
            return self._rows

        def get_batch(self, names: Sequence[str]) -> list[int] | None:
            feed = next(self._batches, None)
            if feed is None:
                return None
            self._device = [torch.from_numpy(feed[name]).cuda() for name in names]
            return [tensor.data_ptr() for tensor in self._device]

        def read_calibration_cache(self) -> bytes | None:
            return None

        def write_calibration_cache(self, cache: bytes) -> None:
            return None

    return Calibrator()
