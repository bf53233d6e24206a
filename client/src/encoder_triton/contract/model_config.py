"""Triton `config.pbtxt` modelled as data and rendered through Triton's own protobuf schema.

Every file we write goes `dataclasses -> dict -> json_format.ParseDict(ModelConfig) ->
text_format`, so a field name or enum value the real schema does not know fails at export time,
not when Triton loads the model. `parse` reads a file back the same way (golden-file tests).

Example:
    >>> cfg = ModelConfig(name="m", max_batch_size=8, backend="python",
    ...                   inputs=(Tensor("TEXT", "BYTES", (1,)),), outputs=(Tensor("Y", "FP32", (4,)),))
    >>> print(render(cfg).splitlines()[0])
    name: "m"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tensor:
    """One input or output; `dtype` is Triton's name without the TYPE_ prefix (e.g. "INT64")."""

    name: str
    dtype: str
    dims: tuple[int, ...]
    allow_ragged_batch: bool = False

    def to_dict(self) -> dict[str, Any]:
        # Triton's config calls the wire type BYTES "TYPE_STRING".
        data_type = "TYPE_STRING" if self.dtype == "BYTES" else f"TYPE_{self.dtype}"
        out: dict[str, Any] = {"name": self.name, "data_type": data_type, "dims": list(self.dims)}
        if self.allow_ragged_batch:
            out["allow_ragged_batch"] = True
        return out


@dataclass(frozen=True)
class DynamicBatching:
    """Triton's dynamic batcher. A bounded queue sheds load at once (HTTP 503 / gRPC
    UNAVAILABLE) instead of letting latency grow without limit; a queue timeout rejects
    requests that waited too long."""

    max_queue_delay_microseconds: int = 2000
    preferred_batch_size: tuple[int, ...] = ()
    max_queue_size: int | None = None
    queue_timeout_microseconds: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_queue_delay_microseconds": self.max_queue_delay_microseconds}
        if self.preferred_batch_size:
            out["preferred_batch_size"] = list(self.preferred_batch_size)
        policy: dict[str, Any] = {}
        if self.max_queue_size is not None:
            policy["max_queue_size"] = self.max_queue_size
        if self.queue_timeout_microseconds is not None:
            policy["timeout_action"] = "REJECT"
            policy["default_timeout_microseconds"] = self.queue_timeout_microseconds
            policy["allow_timeout_override"] = True
        if policy:
            out["default_queue_policy"] = policy
        return out


@dataclass(frozen=True)
class InstanceGroup:
    count: int = 1
    kind: str = "KIND_CPU"
    #: Rate-limiter resources one execution of an instance holds, e.g. {"cpu": 2}.
    rate_limiter_resources: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count, "kind": self.kind}
        if self.rate_limiter_resources:
            out["rate_limiter"] = {
                "resources": [{"name": name, "count": count} for name, count in self.rate_limiter_resources]
            }
        return out


@dataclass(frozen=True)
class WarmupInput:
    """One warmup input: raw bytes in `<model>/warmup/<data_file>` (Triton reads them at load)."""

    name: str
    dtype: str
    dims: tuple[int, ...]
    data_file: str

    def to_dict(self) -> dict[str, Any]:
        data_type = "TYPE_STRING" if self.dtype == "BYTES" else f"TYPE_{self.dtype}"
        return {"data_type": data_type, "dims": list(self.dims), "input_data_file": self.data_file}


@dataclass(frozen=True)
class Warmup:
    name: str
    batch_size: int
    inputs: tuple[WarmupInput, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "batch_size": self.batch_size,
            "inputs": {i.name: i.to_dict() for i in self.inputs},
        }


@dataclass(frozen=True)
class EnsembleStep:
    """One step of an ensemble: `input_map`/`output_map` go from the model's tensor names to
    the ensemble's (Triton's `model_input_name -> ensemble tensor` convention)."""

    model_name: str
    input_map: dict[str, str]
    output_map: dict[str, str]
    model_version: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_version": str(self.model_version),
            "input_map": dict(self.input_map),
            "output_map": dict(self.output_map),
        }


@dataclass(frozen=True)
class ModelConfig:
    name: str
    max_batch_size: int
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    backend: str | None = None
    platform: str | None = None
    dynamic_batching: DynamicBatching | None = None
    instance_groups: tuple[InstanceGroup, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict)
    ensemble_steps: tuple[EnsembleStep, ...] = ()
    warmups: tuple[Warmup, ...] = ()
    response_cache: bool = False
    #: Native backends: the file in the version folder (e.g. "model.plan").
    default_model_filename: str | None = None
    #: Triton's ModelOptimizationPolicy as proto-JSON (e.g. execution accelerators).
    optimization: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "max_batch_size": self.max_batch_size}
        if self.backend:
            out["backend"] = self.backend
        if self.platform:
            out["platform"] = self.platform
        if self.default_model_filename:
            out["default_model_filename"] = self.default_model_filename
        out["input"] = [t.to_dict() for t in self.inputs]
        out["output"] = [t.to_dict() for t in self.outputs]
        if self.dynamic_batching:
            out["dynamic_batching"] = self.dynamic_batching.to_dict()
        if self.instance_groups:
            out["instance_group"] = [g.to_dict() for g in self.instance_groups]
        if self.parameters:
            out["parameters"] = {k: {"string_value": str(v)} for k, v in sorted(self.parameters.items())}
        if self.ensemble_steps:
            out["ensemble_scheduling"] = {"step": [s.to_dict() for s in self.ensemble_steps]}
        if self.warmups:
            out["model_warmup"] = [w.to_dict() for w in self.warmups]
        if self.response_cache:
            out["response_cache"] = {"enable": True}
        if self.optimization:
            out["optimization"] = self.optimization
        return out


def _schema() -> Any:
    # tritonclient ships Triton's model_config.proto compiled; importing it validates our output.
    from tritonclient.grpc import model_config_pb2

    return model_config_pb2


def render(config: ModelConfig) -> str:
    """The config.pbtxt text, validated against Triton's ModelConfig schema."""
    from google.protobuf import json_format, text_format

    message = json_format.ParseDict(config.to_dict(), _schema().ModelConfig())
    return text_format.MessageToString(message)


def parse(text: str) -> Any:
    """Parse config.pbtxt text into a `model_config_pb2.ModelConfig` (raises on unknown fields)."""
    from google.protobuf import text_format

    return text_format.Parse(text, _schema().ModelConfig())
