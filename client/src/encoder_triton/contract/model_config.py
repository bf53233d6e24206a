"""Triton `config.pbtxt` modelled as data and rendered through Triton's own protobuf schema.

Every file we write goes `dataclasses -> dict -> json_format.ParseDict(ModelConfig) ->
text_format`, so a field name or enum value the real schema does not know fails at export time,
not when Triton loads the model. Reading goes the other way into the same dataclasses (the pair
pytriton's `generator.py` and `parser.py` form): `ModelConfig.from_dict` takes Triton's JSON
model config (what the python backend's `initialize` and the config API give), `from_proto` a
parsed config.pbtxt, and `parse_file` a file. `render(ModelConfig.from_proto(parse(text)))`
gives `text` back for every config we write (golden-file tests).

Reading is lenient by default, as Triton's JSON is full of defaults we do not model; with
`strict=True` a config holding anything these dataclasses do not model is refused, so a
rewrite (the bench's variants) never drops a field silently.

Example:
    >>> cfg = ModelConfig(name="m", max_batch_size=8, backend="python",
    ...                   inputs=(Tensor("TEXT", "BYTES", (1,)),), outputs=(Tensor("Y", "FP32", (4,)),))
    >>> print(render(cfg).splitlines()[0])
    name: "m"
    >>> ModelConfig.from_proto(parse(render(cfg))) == cfg
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: How long a dynamic batcher waits to fill a batch unless told otherwise.
DEFAULT_MAX_QUEUE_DELAY_US = 2000


def _data_type(dtype: str) -> str:
    # Triton's config calls the wire type BYTES "TYPE_STRING".
    return "TYPE_STRING" if dtype == "BYTES" else f"TYPE_{dtype}"


def _dtype(data_type: str) -> str:
    return "BYTES" if data_type == "TYPE_STRING" else data_type.removeprefix("TYPE_")


@dataclass(frozen=True)
class Tensor:
    """One input or output; `dtype` is Triton's name without the TYPE_ prefix (e.g. "INT64")."""

    name: str
    dtype: str
    dims: tuple[int, ...]
    allow_ragged_batch: bool = False
    optional: bool = False  # an input a request may leave out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "data_type": _data_type(self.dtype), "dims": list(self.dims)}
        if self.allow_ragged_batch:
            out["allow_ragged_batch"] = True
        if self.optional:
            out["optional"] = True
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tensor:
        return cls(
            name=str(d.get("name", "")),
            dtype=_dtype(str(d.get("data_type", "TYPE_INVALID"))),
            dims=tuple(int(x) for x in d.get("dims", ())),
            allow_ragged_batch=bool(d.get("allow_ragged_batch", False)),
            optional=bool(d.get("optional", False)),
        )


@dataclass(frozen=True)
class DynamicBatching:
    """Triton's dynamic batcher. A bounded queue sheds load at once (HTTP 503 / gRPC
    UNAVAILABLE) instead of letting latency grow without limit; a queue timeout rejects
    requests that waited too long."""

    max_queue_delay_microseconds: int = DEFAULT_MAX_QUEUE_DELAY_US
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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DynamicBatching:
        # Triton reads 0 (or no value) as "no bound" for both queue limits.
        policy = d.get("default_queue_policy", {})
        return cls(
            max_queue_delay_microseconds=int(d.get("max_queue_delay_microseconds", 0)),
            preferred_batch_size=tuple(int(b) for b in d.get("preferred_batch_size", ())),
            max_queue_size=int(policy.get("max_queue_size", 0)) or None,
            queue_timeout_microseconds=int(policy.get("default_timeout_microseconds", 0)) or None,
        )


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InstanceGroup:
        resources = d.get("rate_limiter", {}).get("resources", ())
        return cls(
            count=int(d.get("count", 1)),
            kind=str(d.get("kind", "KIND_AUTO")),
            rate_limiter_resources=tuple((str(r.get("name", "")), int(r.get("count", 0))) for r in resources),
        )


@dataclass(frozen=True)
class WarmupInput:
    """One warmup input: raw bytes in `<model>/warmup/<data_file>` (Triton reads them at load)."""

    name: str
    dtype: str
    dims: tuple[int, ...]
    data_file: str

    def to_dict(self) -> dict[str, Any]:
        return {"data_type": _data_type(self.dtype), "dims": list(self.dims), "input_data_file": self.data_file}

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> WarmupInput:
        return cls(
            name=name,
            dtype=_dtype(str(d.get("data_type", "TYPE_INVALID"))),
            dims=tuple(int(x) for x in d.get("dims", ())),
            data_file=str(d.get("input_data_file", "")),
        )


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Warmup:
        return cls(
            name=str(d.get("name", "")),
            batch_size=int(d.get("batch_size", 0)),
            inputs=tuple(WarmupInput.from_dict(name, spec) for name, spec in d.get("inputs", {}).items()),
        )


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnsembleStep:
        return cls(
            model_name=str(d.get("model_name", "")),
            input_map=dict(d.get("input_map", {})),
            output_map=dict(d.get("output_map", {})),
            model_version=int(d.get("model_version", 0)),  # proto's default; we write -1 (latest)
        )


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """From Triton's JSON model config (the python backend's `json.loads(args["model_config"])`,
        the config API's answer) or `json_format.MessageToDict` of a parsed config.pbtxt.

        Fields these dataclasses do not model are ignored; int64 values may come as strings.
        """
        batching = d.get("dynamic_batching")
        return cls(
            name=str(d.get("name", "")),
            max_batch_size=int(d.get("max_batch_size", 0)),
            inputs=tuple(Tensor.from_dict(t) for t in d.get("input", ())),
            outputs=tuple(Tensor.from_dict(t) for t in d.get("output", ())),
            backend=d.get("backend") or None,
            platform=d.get("platform") or None,
            dynamic_batching=None if batching is None else DynamicBatching.from_dict(batching),
            instance_groups=tuple(InstanceGroup.from_dict(g) for g in d.get("instance_group", ())),
            parameters={k: str(v.get("string_value", "")) for k, v in d.get("parameters", {}).items()},
            ensemble_steps=tuple(EnsembleStep.from_dict(s) for s in d.get("ensemble_scheduling", {}).get("step", ())),
            warmups=tuple(Warmup.from_dict(w) for w in d.get("model_warmup", ())),
            response_cache=bool(d.get("response_cache", {}).get("enable", False)),
            default_model_filename=d.get("default_model_filename") or None,
            optimization=d.get("optimization") or None,
        )

    @classmethod
    def from_proto(cls, message: Any, *, strict: bool = False) -> ModelConfig:
        """From a `model_config_pb2.ModelConfig` (see `parse`).

        `strict`: raise ValueError when the message holds fields these dataclasses do not model
        (rendering the result would drop them).
        """
        from google.protobuf import json_format

        config = cls.from_dict(json_format.MessageToDict(message, preserving_proto_field_name=True))
        if strict:
            rendered = json_format.ParseDict(config.to_dict(), _schema().ModelConfig())
            names = {f.name for f, _ in message.ListFields()} | {f.name for f, _ in rendered.ListFields()}
            lost = sorted(n for n in names if getattr(message, n) != getattr(rendered, n))
            if lost:
                raise ValueError(
                    f"the config of {config.name!r} has settings encoder-triton does not model in "
                    f"{', '.join(lost)}: rewriting it would lose them, so edit that config.pbtxt by hand"
                )
        return config


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


def parse_file(path: str | Path, *, strict: bool = False) -> ModelConfig:
    """A config.pbtxt file read back into `ModelConfig` (see `ModelConfig.from_proto`)."""
    return ModelConfig.from_proto(parse(Path(path).read_text()), strict=strict)
