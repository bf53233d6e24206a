"""The tokenizer and encoder steps, free of Triton: one implementation for every host.

Triton's python-backend adapters (`triton_backend`) and the client's in-process transport
(`EncoderClient.local`) both run these classes, so a repository answers the same wherever it
runs. A step is built from a component model's config (`ModelArgs`), exactly as exported.

Example:
    >>> step = TokenizerStep(ModelArgs.from_directory(Path("model_repository/minilm_tokenizer")))  # doctest: +SKIP
    >>> step.encode({"TEXT": rows}.get).input_ids.shape  # doctest: +SKIP
    (2, 7)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.errors import InvalidTextError
from encoder_triton.runtime.encoder import DEFAULT_MAX_BATCH_TOKENS, OnnxEncoder
from encoder_triton.runtime.providers import (
    CUDA_ATTENTION_KERNELS,
    cache_root,
    intra_op_threads,
    parse_preference,
    select_providers,
)
from encoder_triton.runtime.shape_buckets import length_buckets, optimization_profiles, parse_buckets
from encoder_triton.runtime.texts import decode_texts
from encoder_triton.runtime.tokenization import TextTokenizer, TokenBatch

#: Looks up a request's input tensor by name (None when the request lacks it).
InputGetter = Callable[[str], "np.ndarray | None"]


class ModelArgs:
    """One component model's config and files, from Triton's `initialize` args or from disk."""

    def __init__(
        self, config: dict[str, Any], version_dir: Path, *, instance_kind: str = "CPU", device_id: int = 0
    ) -> None:
        self.config = config
        self.version_dir = version_dir
        self.instance_kind = instance_kind
        self.device_id = device_id
        self.parameters = {key: value["string_value"] for key, value in self.config.get("parameters", {}).items()}
        self.output_names = [o["name"] for o in self.config.get("output", [])]
        self.input_names = [i["name"] for i in self.config.get("input", [])]
        self.instances = sum(int(g.get("count", 1)) for g in self.config.get("instance_group", [])) or 1
        self.cpu_instances = sum(
            int(g.get("count", 1)) for g in self.config.get("instance_group", []) if g.get("kind") != "KIND_GPU"
        )
        self.max_batch_size = int(self.config.get("max_batch_size", 0) or 0)

    @classmethod
    def from_triton(cls, args: dict[str, str]) -> ModelArgs:
        """From the dict Triton's python backend passes to `initialize`."""
        return cls(
            json.loads(args["model_config"]),
            Path(args["model_repository"]) / args["model_version"],
            instance_kind=args.get("model_instance_kind", "CPU"),
            device_id=int(args.get("model_instance_device_id", "0") or 0),
        )

    @classmethod
    def from_directory(cls, model_dir: Path, version: str = "1") -> ModelArgs:
        """From `<repo>/<model>/config.pbtxt`, parsed with Triton's own schema (in-process use)."""
        from google.protobuf import json_format, text_format
        from tritonclient.grpc import model_config_pb2

        message = text_format.Parse((model_dir / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        config = json_format.MessageToDict(message, preserving_proto_field_name=True)
        return cls(config, model_dir / version)

    def parameter(self, key: str, default: str | None = None) -> str:
        if key in self.parameters:
            return self.parameters[key]
        if default is None:
            raise KeyError(f"config.pbtxt of {self.config.get('name')} lacks parameter {key!r}")
        return default


class TokenizerStep:
    """Step 1: TEXT (BYTES [N, 1]) -> input_ids, attention_mask[, token_type_ids] (INT64 [N, L]).

    A rerank tokenizer also takes QUERY (BYTES [N, 1]) and tokenises row i as the pair
    (QUERY[i], TEXT[i]). Bad input raises InvalidTextError naming the row.
    """

    def __init__(self, model: ModelArgs) -> None:
        self.outputs = model.output_names
        self.pairs = contract.QUERY in model.input_names
        self.tokenizer = TextTokenizer.from_file(
            model.version_dir / model.parameter(contract.Param.TOKENIZER_FILE, "tokenizer.json"),
            max_length=int(model.parameter(contract.Param.MAX_LENGTH)),
            pad_id=int(model.parameter(contract.Param.PAD_ID, "0")),
            with_token_type_ids=contract.TOKEN_TYPE_IDS in self.outputs,
            truncate=model.parameter(contract.Param.TRUNCATION, "true") == "true",
            length_buckets=parse_buckets(model.parameters[contract.Param.LENGTH_BUCKETS])
            if contract.Param.LENGTH_BUCKETS in model.parameters
            else (),
        )
        max_chars = model.parameter(contract.Param.MAX_CHARS, "")
        self.max_chars = int(max_chars) if max_chars else None

    def encode(self, get: InputGetter, parameters: Mapping[str, object] | None = None) -> TokenBatch:
        """The request's token batch; `parameters` are its request parameters (`contract.RequestParam`)."""
        max_length, max_text_tokens = request_limits(parameters or {})

        def rows(name: str) -> np.ndarray:
            array = get(name)
            if array is None:  # Triton checks required inputs first; this guards direct calls
                raise InvalidTextError(f"the request has no {name} input: send {name} (BYTES, one row per text)")
            return array

        if not self.pairs:
            return self.tokenizer.encode(
                decode_texts(rows(contract.TEXT), max_chars=self.max_chars), max_length=max_length
            )
        texts = rows(contract.TEXT)
        queries = rows(contract.QUERY)
        if len(queries) != len(texts):
            raise InvalidTextError(
                f"{contract.QUERY} has {len(queries)} rows and {contract.TEXT} {len(texts)}: "
                "send one query per document (repeat the query for each)"
            )
        return self.tokenizer.encode_pairs(
            decode_texts(queries, max_chars=self.max_chars, kind="query"),
            decode_texts(texts, max_chars=self.max_chars, kind="document"),
            max_length=max_length,
            max_text_tokens=max_text_tokens,
        )

    def outputs_of(self, batch: TokenBatch) -> dict[str, np.ndarray]:
        arrays = {**batch.arrays(), contract.TOKEN_COUNT: batch.lengths.astype(np.int64).reshape(-1, 1)}
        return {name: arrays[name] for name in self.outputs}


def request_limits(parameters: Mapping[str, object]) -> tuple[int | None, int | None]:
    """(max_length, max_text_tokens) from a request's parameters; a bad value is bad input."""
    found: list[int | None] = []
    for key in (contract.RequestParam.MAX_LENGTH, contract.RequestParam.MAX_TEXT_TOKENS):
        value = parameters.get(key)
        if value is None:
            found.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() or int(value) < 1:
            raise InvalidTextError(f"request parameter {key!r} must be a positive integer, got {value!r}")
        found.append(int(value))
    return found[0], found[1]


class EncoderStep:
    """Step 2: token batches of many requests -> each request's rows of every output."""

    def __init__(self, model: ModelArgs) -> None:
        self.encoder = load_encoder(model)
        self.output_names = model.output_names
        self.pad_id = int(model.parameter(contract.Param.PAD_ID, "0"))

    def run(self, batches: list[TokenBatch]) -> list[dict[str, np.ndarray]]:
        """One forward over all requests' rows (padded per sub-batch), split back per request."""
        merged = TokenBatch.concat(batches, pad_id=self.pad_id)
        outputs = self.encoder.encode_outputs(merged)
        results = []
        start = 0
        for batch in batches:
            rows = slice(start, start + len(batch))
            start += len(batch)
            results.append({name: np.ascontiguousarray(outputs[name][rows]) for name in self.output_names})
        return results

    @staticmethod
    def tokens(get: InputGetter) -> TokenBatch:
        ids, mask = get(contract.INPUT_IDS), get(contract.ATTENTION_MASK)
        if ids is None or mask is None:
            raise InvalidTextError("the encoder needs input_ids and attention_mask")
        return TokenBatch(input_ids=ids, attention_mask=mask, token_type_ids=get(contract.TOKEN_TYPE_IDS))


def load_encoder(model: ModelArgs) -> Any:
    """The runner the config asks for: ONNX Runtime with providers for this instance's kind
    (CPU, or CUDA / TensorRT providers on a GPU), or a TensorRT engine."""
    path = model.version_dir / model.parameter(contract.Param.ENCODER_FILE, "model.onnx")
    max_batch_tokens = int(model.parameter(contract.Param.MAX_BATCH_TOKENS, str(DEFAULT_MAX_BATCH_TOKENS)))
    batching = contract.Batching(model.parameter(contract.Param.BATCHING, contract.Batching.TOKEN_BUDGET.value))
    runner = contract.Runner(model.parameter(contract.Param.RUNNER, contract.Runner.ONNXRUNTIME.value))
    if runner is contract.Runner.TENSORRT:
        from encoder_triton.runtime.tensorrt_runner import TensorRTEncoder

        return TensorRTEncoder(path, device_id=model.device_id, max_batch_tokens=max_batch_tokens, batching=batching)

    import onnxruntime as ort

    precision = contract.Precision(model.parameter(contract.Param.PRECISION, contract.Precision.FP32.value))
    max_length = int(model.parameter(contract.Param.MAX_LENGTH, "512"))
    providers = select_providers(
        model.instance_kind,
        device_id=model.device_id,
        preference=parse_preference(model.parameter(contract.Param.EXECUTION_PROVIDERS, "cuda")),
        available=ort.get_available_providers(),
        fp16=precision is contract.Precision.FP16,
        tensorrt_cache_dir=cache_root() / "tensorrt-ep" / str(model.config.get("name", "encoder")),
        profiles=optimization_profiles(
            max(1, model.max_batch_size), length_buckets(max_length), max_batch_tokens=max_batch_tokens
        ),
        input_names=model.input_names,
        onnxruntime_version=ort.__version__,
        attention_kernels=model.parameter(contract.Param.CUDA_ATTENTION_KERNELS, CUDA_ATTENTION_KERNELS),
    )
    threads = model.parameter(
        contract.Param.INTRA_OP_THREADS, str(intra_op_threads(model.instance_kind, model.cpu_instances))
    )
    return OnnxEncoder(
        path,
        intra_op_threads=int(threads),
        providers=providers,
        max_batch_tokens=max_batch_tokens,
        batching=batching,
        # Off by default: the instance shares the CPU with the tokenizer step, tritonserver and
        # its other instances; config.pbtxt can turn spinning back on for a dedicated host.
        allow_spinning=model.parameter(contract.Param.INTRA_OP_SPINNING, "false").lower() == "true",
    )
