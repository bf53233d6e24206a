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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from encoder_triton import contract
from encoder_triton.contract import LongInputs
from encoder_triton.contract.model_config import ModelConfig, parse_file
from encoder_triton.contract.params import ComponentParams, EncoderParams, TokenizerParams
from encoder_triton.errors import InvalidTextError
from encoder_triton.runtime.chunks import check_chunks, expand, pool
from encoder_triton.runtime.encoder import OnnxEncoder
from encoder_triton.runtime.providers import (
    CUDA_ATTENTION_KERNELS,
    DEFAULT_GPU_PREFERENCE,
    cache_root,
    intra_op_threads,
    select_providers,
)
from encoder_triton.runtime.shape_buckets import length_buckets, optimization_profiles
from encoder_triton.runtime.texts import decode_texts
from encoder_triton.runtime.token_outputs import token_outputs
from encoder_triton.runtime.tokenization import TextTokenizer, TokenBatch

#: Looks up a request's input tensor by name (None when the request lacks it).
InputGetter = Callable[[str], "np.ndarray | None"]
P = TypeVar("P", bound=ComponentParams)


@dataclass(frozen=True)
class ModelArgs:
    """One component model as its instance sees it: its config, its files, and where it runs
    (`instance_kind` "CPU" or "GPU", `device_id`), from Triton's `initialize` args or from disk."""

    config: ModelConfig
    version_dir: Path
    instance_kind: str = field(default="CPU", kw_only=True)
    device_id: int = field(default=0, kw_only=True)

    @classmethod
    def from_triton(cls, args: dict[str, str]) -> ModelArgs:
        """From the dict Triton's python backend passes to `initialize`."""
        return cls(
            ModelConfig.from_dict(json.loads(args["model_config"])),
            Path(args["model_repository"]) / args["model_version"],
            instance_kind=args.get("model_instance_kind", "CPU"),
            device_id=int(args.get("model_instance_device_id", "0") or 0),
        )

    @classmethod
    def from_directory(cls, model_dir: Path, version: str = "1") -> ModelArgs:
        """From `<repo>/<model>/config.pbtxt`, parsed with Triton's own schema (in-process use)."""
        return cls(parse_file(model_dir / "config.pbtxt"), model_dir / version)

    def params(self, kind: type[P]) -> P:
        """The config's parameters read as `kind` (e.g. `EncoderParams`); a missing or bad one
        raises ValueError naming the model and the key."""
        try:
            return kind.from_parameters(self.config.parameters)
        except ValueError as exc:
            raise ValueError(f"config.pbtxt of {self.config.name}: {exc}") from exc

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.config.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.config.outputs]

    @property
    def max_batch_size(self) -> int:
        return self.config.max_batch_size

    @property
    def cpu_instances(self) -> int:
        """Instances of this model that share the host's cores."""
        return sum(g.count for g in self.config.instance_groups if g.kind != "KIND_GPU")


class TokenizerStep:
    """Step 1: TEXT (BYTES [N, 1]) -> input_ids, attention_mask[, token_type_ids] (INT64 [N, L]).

    A rerank tokenizer also takes QUERY (BYTES [N, 1]) and tokenises row i as the pair
    (QUERY[i], TEXT[i]). Bad input raises InvalidTextError naming the row.
    """

    def __init__(self, model: ModelArgs) -> None:
        params = model.params(TokenizerParams)
        self.outputs = model.output_names
        self.pairs = contract.QUERY in model.input_names
        self.tokenizer = TextTokenizer.from_file(
            model.version_dir / params.tokenizer_file,
            max_length=params.max_length,
            pad_id=params.pad_id,
            with_token_type_ids=contract.TOKEN_TYPE_IDS in self.outputs,
            length_buckets=params.length_buckets,
            long_inputs=params.long_input_policy,
            chunk_overlap=params.chunk_overlap,
        )
        self.max_chars = params.max_chars

    def encode(self, get: InputGetter, parameters: Mapping[str, object] | None = None) -> TokenBatch:
        """The request's token batch; `parameters` are its request parameters (`contract.RequestParam`)."""
        max_length, max_text_tokens = request_limits(parameters or {})
        long_inputs = (parameters or {}).get(contract.RequestParam.LONG_INPUTS)
        if contract.CHUNKS not in self.outputs and self.tokenizer.policy(long_inputs, max_length) is LongInputs.CHUNK:
            raise InvalidTextError(
                "this model's encoder runs on a native Triton backend, which cannot pool a long text's "
                "windows: send long_inputs=truncate, truncate_left or error"
            )

        def rows(name: str) -> np.ndarray:
            array = get(name)
            if array is None:  # Triton checks required inputs first; this guards direct calls
                raise InvalidTextError(f"the request has no {name} input: send {name} (BYTES, one row per text)")
            return array

        if not self.pairs:
            return self.tokenizer.encode(
                decode_texts(rows(contract.TEXT), max_chars=self.max_chars),
                max_length=max_length,
                long_inputs=long_inputs,
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
            long_inputs=long_inputs,
        )

    def outputs_of(self, batch: TokenBatch) -> dict[str, np.ndarray]:
        rows = len(batch)
        truncated = batch.truncated if batch.truncated is not None else np.zeros(rows, dtype=np.int64)
        chunks = batch.chunks if batch.chunks is not None else np.ones(rows, dtype=np.int64)
        arrays = {
            **batch.arrays(),
            contract.TOKEN_COUNT: batch.lengths.astype(np.int64).reshape(-1, 1),
            contract.TRUNCATED: truncated.reshape(-1, 1),
            contract.CHUNKS: chunks.reshape(-1, 1),
        }
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
    """Step 2: token batches of many requests -> each request's rows of every output.

    The windows of long texts (CHUNKS) run as rows of their own and pool back per text (see
    `chunks`); a bge-m3-style graph's per-token outputs become its sparse and multi-vector
    outputs (see `token_outputs`).
    """

    def __init__(self, model: ModelArgs) -> None:
        self.encoder = load_encoder(model)
        self.output_names = model.output_names
        self.params = model.params(EncoderParams)
        self.pad_id = self.params.pad_id

    def run(self, batches: list[TokenBatch]) -> list[dict[str, np.ndarray]]:
        """One forward over all requests' rows (padded per sub-batch), split back per request."""
        expanded = [expand(batch) for batch in batches]
        outputs = self.encoder.encode_outputs(TokenBatch.concat([rows for rows, _ in expanded], pad_id=self.pad_id))
        results = []
        start = 0
        for batch, (rows, owners) in zip(batches, expanded, strict=True):
            part = {name: values[start : start + len(rows)] for name, values in outputs.items()}
            start += len(rows)
            answers = pool(
                part,
                owners,
                rows.lengths,
                len(batch),
                normalized=self.params.normalized,
                activation=self.params.activation,
            )
            if contract.TOKEN_WEIGHTS in answers:
                answers |= token_outputs(
                    rows,
                    answers[contract.TOKEN_WEIGHTS],
                    answers[contract.TOKEN_VECTORS],
                    owners,
                    len(batch),
                    special_ids=self.params.special_token_ids,
                )
            results.append({name: np.ascontiguousarray(answers[name]) for name in self.output_names})
        return results

    @staticmethod
    def tokens(get: InputGetter) -> TokenBatch:
        ids, mask = get(contract.INPUT_IDS), get(contract.ATTENTION_MASK)
        if ids is None or mask is None:
            raise InvalidTextError("the encoder needs input_ids and attention_mask")
        chunks = get(contract.CHUNKS)
        batch = TokenBatch(
            input_ids=ids,
            attention_mask=mask,
            token_type_ids=get(contract.TOKEN_TYPE_IDS),
            chunks=None if chunks is None else np.asarray(chunks, dtype=np.int64).reshape(-1),
        )
        check_chunks(batch)
        return batch


def load_encoder(model: ModelArgs) -> Any:
    """The runner the config asks for: ONNX Runtime with providers for this instance's kind
    (CPU, or CUDA / TensorRT providers on a GPU), or a TensorRT engine."""
    params = model.params(EncoderParams)
    path = model.version_dir / params.encoder_file
    if params.runner is contract.Runner.TENSORRT:
        from encoder_triton.runtime.tensorrt_runner import TensorRTEncoder

        return TensorRTEncoder(
            path, device_id=model.device_id, max_batch_tokens=params.max_batch_tokens, batching=params.batching
        )

    import onnxruntime as ort

    providers = select_providers(
        model.instance_kind,
        device_id=model.device_id,
        preference=params.execution_providers or DEFAULT_GPU_PREFERENCE,
        available=ort.get_available_providers(),
        fp16=params.precision is contract.Precision.FP16,
        tensorrt_cache_dir=cache_root() / "tensorrt-ep" / (model.config.name or "encoder"),
        profiles=optimization_profiles(
            max(1, model.max_batch_size), length_buckets(params.max_length), max_batch_tokens=params.max_batch_tokens
        ),
        input_names=model.input_names,
        onnxruntime_version=ort.__version__,
        attention_kernels=params.cuda_attention_kernels or CUDA_ATTENTION_KERNELS,
    )
    threads = params.intra_op_threads
    return OnnxEncoder(
        path,
        intra_op_threads=intra_op_threads(model.instance_kind, model.cpu_instances) if threads is None else threads,
        providers=providers,
        max_batch_tokens=params.max_batch_tokens,
        batching=params.batching,
        # Off by default: the instance shares the CPU with the tokenizer step, tritonserver and
        # its other instances; config.pbtxt can turn spinning back on for a dedicated host.
        allow_spinning=params.intra_op_spinning,
    )
