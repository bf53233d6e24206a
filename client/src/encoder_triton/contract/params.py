"""Typed `parameters` of the three models of an export, and the one codec to their strings.

Triton keeps a model's parameters as strings (`parameters { key: "batching" value {
string_value: "token_budget" } }`). The exporter writes them, the python-backend steps read them inside
Triton, the client reads the ensemble's and the bench varies the encoder's: all of them go
through the dataclasses below, whose fields carry their key (from `contract.Param`), their
default and their codec. So a key, a default and a string <-> value conversion are each written
once, here.

A field whose value is None is not written (it was not in the config, or the runtime decides:
see each field); a field marked `omit_default` is written only when it differs from its
default, which keeps the configs of default exports as they were before the key existed. An
empty string reads as absent. Reading ignores keys it does not own, and accepts a key's old
name (`legacy`).

Example:
    >>> params = EncoderParams(max_length=256)
    >>> params.to_parameters()["batching"], params.max_batch_tokens == DEFAULT_MAX_BATCH_TOKENS
    ('token_budget', True)
    >>> EncoderParams.from_parameters({"encoder_triton.max_length": "256", "engine": "tensorrt"}).runner.value
    'tensorrt'
    >>> EncoderParams.from_parameters({"encoder_triton.max_length": "256", "batching": "fast"})
    Traceback (most recent call last):
    ...
    ValueError: config parameter 'batching': 'fast' is not one of token_budget, pad_to_longest
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any, Generic, TypeVar

from encoder_triton.contract import Activation, Batching, LongInputs, Param, Precision, Runner, Task

#: Padded-token budget of one encoder sub-batch: 64 rows at 128 tokens (see runtime/batching.py).
DEFAULT_MAX_BATCH_TOKENS = 8192
DEFAULT_BATCHING = Batching.TOKEN_BUDGET
#: The per-text character limit an export writes unless told otherwise (a config without one
#: has no limit).
DEFAULT_MAX_CHARS = 1_000_000
#: Texts over max_length tokens are truncated (False: rejected). The older spelling of
#: `long_inputs` (truncate vs error), still written for readers that know only it.
DEFAULT_TRUNCATION = True
DEFAULT_LONG_INPUTS = LongInputs.TRUNCATE
DEFAULT_TOKENIZER_FILE = "tokenizer.json"
DEFAULT_ENCODER_FILE = "model.onnx"
#: ONNX Runtime providers a GPU instance may ask for (`execution_providers`), by short name.
GPU_PROVIDERS = ("tensorrt", "cuda")

T = TypeVar("T")
P = TypeVar("P", bound="ComponentParams")


@dataclass(frozen=True)
class Codec(Generic[T]):
    """A value's text form in config.pbtxt; `expected` says what a valid text looks like.
    `coerce` turns what code may pass (an enum's value) into the field's type."""

    expected: str
    decode: Callable[[str], T]
    encode: Callable[[T], str] = str
    coerce: Callable[[Any], T] | None = None


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


def _enum(cls: type[enum.Enum]) -> Codec[Any]:
    return Codec("one of " + ", ".join(str(m.value) for m in cls), cls, lambda member: str(member.value), cls)


def parse_length_buckets(text: str) -> tuple[int, ...]:
    """Buckets from "16,32,64": sorted, positive, no duplicates."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise ValueError(f"length buckets must be comma-separated integers, got {text!r}") from exc
    if not values or values[0] < 1:
        raise ValueError(f"length buckets must be positive integers, got {text!r}")
    return tuple(values)


def parse_gpu_providers(text: str) -> tuple[str, ...]:
    """Parse "tensorrt,cuda" into ("tensorrt", "cuda"), best first, rejecting unknown names."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in GPU_PROVIDERS]
    if unknown or not names:
        raise ValueError(f"GPU execution providers must be among {GPU_PROVIDERS}, got {text!r}")
    return names


def parse_token_ids(text: str) -> tuple[int, ...]:
    """Token ids from "0,2,3": sorted, non-negative, no duplicates (may be empty)."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise ValueError(f"token ids must be comma-separated integers, got {text!r}") from exc
    if values and values[0] < 0:
        raise ValueError(f"token ids must be >= 0, got {text!r}")
    return tuple(values)


def _labels(text: str) -> tuple[str, ...]:
    labels = json.loads(text)
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError(text)
    return tuple(labels)


INT = Codec("an integer", int)
TEXT = Codec("text", str)
BOOL = Codec('"true" or "false"', _bool, lambda value: "true" if value else "false")
INTS = Codec("comma-separated positive integers", parse_length_buckets, lambda v: ",".join(str(i) for i in v))
PROVIDERS = Codec("comma-separated names among " + ", ".join(GPU_PROVIDERS), parse_gpu_providers, ",".join)
TOKEN_IDS = Codec("comma-separated token ids", parse_token_ids, lambda v: ",".join(str(i) for i in v))
LABELS = Codec("a JSON list of strings", _labels, lambda v: json.dumps(list(v), ensure_ascii=False))


@dataclass(frozen=True)
class _Key:
    key: str
    codec: Codec[Any]
    omit_default: bool
    legacy: tuple[str, ...]
    minimum: int | None


def param(
    key: str,
    codec: Codec[Any],
    default: Any = MISSING,
    *,
    omit_default: bool = False,
    legacy: tuple[str, ...] = (),
    minimum: int | None = None,
) -> Any:
    """A dataclass field stored under `key` (no default: the key is required)."""
    return field(default=default, metadata={"param": _Key(key, codec, omit_default, legacy, minimum)})


class ComponentParams:
    """What the three parameter classes share: reading, writing and checking by field metadata."""

    @classmethod
    def _keys(cls) -> Iterator[tuple[dataclasses.Field[Any], _Key]]:
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            yield f, f.metadata["param"]

    @classmethod
    def keys(cls) -> frozenset[str]:
        """Every key this class reads, old names included."""
        return frozenset(name for _, spec in cls._keys() for name in (spec.key, *spec.legacy))

    @classmethod
    def from_parameters(cls: type[P], parameters: Mapping[str, str]) -> P:
        """Read from a config's parameters; a missing required key or a bad value raises
        ValueError naming the key."""
        values: dict[str, Any] = {}
        for f, spec in cls._keys():
            key = next((k for k in (spec.key, *spec.legacy) if parameters.get(k)), None)
            if key is None:
                if f.default is MISSING:
                    raise ValueError(f"config parameter {spec.key!r} is missing")
                continue
            text = parameters[key]
            try:
                values[f.name] = spec.codec.decode(text)
            except ValueError as exc:
                raise ValueError(f"config parameter {key!r}: {text!r} is not {spec.codec.expected}") from exc
        return cls(**values)

    def to_parameters(self) -> dict[str, str]:
        """The config's parameters: None fields and defaults marked `omit_default` are left out."""
        out = {}
        for f, spec in self._keys():
            value = getattr(self, f.name)
            if value is None or (spec.omit_default and value == f.default):
                continue
            out[spec.key] = spec.codec.encode(value)
        return out

    def merged(self, parameters: Mapping[str, str]) -> dict[str, str]:
        """`parameters` with the keys this class owns (old names included) replaced by this
        instance's, and every other key kept (a variant of a config edits only its knobs)."""
        owned = self.keys()
        return {k: v for k, v in parameters.items() if k not in owned} | self.to_parameters()

    def __post_init__(self) -> None:
        for f, spec in self._keys():
            value = getattr(self, f.name)
            if value is None:
                continue
            if spec.codec.coerce is not None:
                try:
                    value = spec.codec.coerce(value)
                except ValueError as exc:
                    raise ValueError(f"config parameter {spec.key!r}: {value!r} is not {spec.codec.expected}") from exc
                object.__setattr__(self, f.name, value)  # frozen: the dataclass's own way round it
            if spec.minimum is not None and value < spec.minimum:
                raise ValueError(f"config parameter {spec.key!r} must be >= {spec.minimum}, got {value}")


@dataclass(frozen=True)
class TokenizerParams(ComponentParams):
    """The tokenizer step (`<name>_tokenizer`)."""

    max_length: int = param(Param.MAX_LENGTH, INT, minimum=1)
    pad_id: int = param(Param.PAD_ID, INT, 0, minimum=0)
    tokenizer_file: str = param(Param.TOKENIZER_FILE, TEXT, DEFAULT_TOKENIZER_FILE)
    truncation: bool = param(Param.TRUNCATION, BOOL, DEFAULT_TRUNCATION)
    #: None: no limit on characters per text.
    max_chars: int | None = param(Param.MAX_CHARS, INT, None, minimum=1)
    #: Native backends: pad each batch up to one of these lengths; (): per batch, to its longest.
    length_buckets: tuple[int, ...] = param(Param.LENGTH_BUCKETS, INTS, (), omit_default=True)
    #: None: `truncation` decides (truncate, or error), as in exports made before the key.
    long_inputs: LongInputs | None = param(Param.LONG_INPUTS, _enum(LongInputs), None)
    #: Tokens neighbouring windows share under `chunk`; None: an eighth of the window.
    chunk_overlap: int | None = param(Param.CHUNK_OVERLAP, INT, None, minimum=0)

    @property
    def long_input_policy(self) -> LongInputs:
        """The exported policy for texts over `max_length`."""
        return long_input_policy(self.long_inputs, self.truncation)


@dataclass(frozen=True)
class EncoderParams(ComponentParams):
    """The encoder step (`<name>_encoder`) of the python backend."""

    max_length: int = param(Param.MAX_LENGTH, INT, minimum=1)
    pad_id: int = param(Param.PAD_ID, INT, 0, minimum=0)
    encoder_file: str = param(Param.ENCODER_FILE, TEXT, DEFAULT_ENCODER_FILE)
    max_batch_tokens: int = param(Param.MAX_BATCH_TOKENS, INT, DEFAULT_MAX_BATCH_TOKENS, minimum=1)
    batching: Batching = param(Param.BATCHING, _enum(Batching), DEFAULT_BATCHING)
    precision: Precision = param(Param.PRECISION, _enum(Precision), Precision.FP32, omit_default=True)
    # "engine" until the runner rename; exports made before it still load.
    runner: Runner = param(Param.RUNNER, _enum(Runner), Runner.ONNXRUNTIME, omit_default=True, legacy=("engine",))
    #: GPU instances' ONNX Runtime providers, best first; None: the runtime's default preference.
    execution_providers: tuple[str, ...] | None = param(Param.EXECUTION_PROVIDERS, PROVIDERS, None)
    #: The CUDA provider's `sdpa_kernel` mask ("auto": ORT picks); None: the runtime's default.
    cuda_attention_kernels: str | None = param(Param.CUDA_ATTENTION_KERNELS, TEXT, None)
    #: ORT threads per instance (0: every core); None: the runtime shares the cores out.
    intra_op_threads: int | None = param(Param.INTRA_OP_THREADS, INT, None, minimum=0)
    #: Let ORT's threads busy-wait (off: the instance shares its cores with other processes).
    intra_op_spinning: bool = param(Param.INTRA_OP_SPINNING, BOOL, False, omit_default=True)
    #: How a long text's windows pool back (runtime/long_inputs.py): embeddings are renormalised
    #: when the model normalises, a classifier's mean logits go through its activation.
    normalized: bool = param(Param.NORMALIZED, BOOL, False, omit_default=True)
    activation: Activation | None = param(Param.ACTIVATION, _enum(Activation), None)
    #: bge-m3-style models: token ids the sparse output leaves out (CLS, EOS, PAD, UNK).
    special_token_ids: tuple[int, ...] = param(Param.SPECIAL_TOKEN_IDS, TOKEN_IDS, (), omit_default=True)


@dataclass(frozen=True)
class EnsembleParams(ComponentParams):
    """The ensemble, the public model: what clients read to use it. Every field may be absent
    (a model not written by encoder-triton has no task)."""

    task: Task | None = param(Param.TASK, _enum(Task), None)
    #: Width of each output row: embedding size, number of labels, 1 for a reranker.
    dimension: int | None = param(Param.DIMENSION, INT, None, minimum=1)
    normalized: bool | None = param(Param.NORMALIZED, BOOL, None)  # embed: unit-length rows
    labels: tuple[str, ...] | None = param(Param.LABELS, LABELS, None)  # classify, in LOGITS order
    activation: Activation | None = param(Param.ACTIVATION, _enum(Activation), None)  # classify
    max_length: int | None = param(Param.MAX_LENGTH, INT, None, minimum=1)
    truncation: bool = param(Param.TRUNCATION, BOOL, DEFAULT_TRUNCATION)
    max_chars: int | None = param(Param.MAX_CHARS, INT, None, minimum=1)
    source_model: str | None = param(Param.SOURCE_MODEL, TEXT, None)
    precision: Precision = param(Param.PRECISION, _enum(Precision), Precision.FP32, omit_default=True)
    long_inputs: LongInputs | None = param(Param.LONG_INPUTS, _enum(LongInputs), None)

    @property
    def long_input_policy(self) -> LongInputs:
        """The model's policy for texts over `max_length` (requests may ask for another)."""
        return long_input_policy(self.long_inputs, self.truncation)


def long_input_policy(long_inputs: LongInputs | None, truncation: bool) -> LongInputs:
    """A config's policy: `long_inputs` when written, else what `truncation` alone meant."""
    if long_inputs is not None:
        return long_inputs
    return LongInputs.TRUNCATE if truncation else LongInputs.ERROR
