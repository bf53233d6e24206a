"""Adapters from Triton's python backend to the runtime: the tokenizer and encoder steps.

The `model.py` files in an exported repository only re-export these classes under Triton's
required name, so all logic lives (and is tested) here:

    from encoder_triton.runtime.triton_backend import TokenizerModel as TritonPythonModel

Each `execute` answers every request it is given: a request with bad input gets its own
INVALID_ARG error, and the other requests of the same dynamic batch are served normally.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from encoder_triton import contract
from encoder_triton.runtime.encoder import DEFAULT_MAX_BATCH_TOKENS, OnnxEncoder, default_threads
from encoder_triton.runtime.texts import InvalidTextError, decode_texts
from encoder_triton.runtime.tokenization import TextTokenizer, TokenBatch

try:  # Only importable inside Triton's python-backend stub.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - exercised only outside Triton
    pb_utils = None


class _ModelArgs:
    """What Triton passes to `initialize`, parsed once."""

    def __init__(self, args: dict[str, str]) -> None:
        self.config: dict[str, Any] = json.loads(args["model_config"])
        self.version_dir = Path(args["model_repository"]) / args["model_version"]
        self.instance_kind = args.get("model_instance_kind", "CPU")
        self.device_id = int(args.get("model_instance_device_id", "0") or 0)
        self.parameters = {key: value["string_value"] for key, value in self.config.get("parameters", {}).items()}
        self.output_names = [o["name"] for o in self.config.get("output", [])]
        self.instances = sum(int(g.get("count", 1)) for g in self.config.get("instance_group", [])) or 1

    def parameter(self, key: str, default: str | None = None) -> str:
        if key in self.parameters:
            return self.parameters[key]
        if default is None:
            raise KeyError(f"config.pbtxt of {self.config.get('name')} lacks parameter {key!r}")
        return default


def _error(message: str, code: str = "INVALID_ARG") -> Any:
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, getattr(pb_utils.TritonError, code)))


class TokenizerModel:
    """Step 1: TEXT (BYTES [N, 1]) -> input_ids, attention_mask[, token_type_ids] (INT64 [N, L]).

    A rerank tokenizer also takes QUERY (BYTES [N, 1]) and tokenises row i as the pair
    (QUERY[i], TEXT[i]).
    """

    def initialize(self, args: dict[str, str]) -> None:
        model = _ModelArgs(args)
        self.outputs = model.output_names
        self.pairs = contract.QUERY in {i["name"] for i in model.config.get("input", [])}
        self.tokenizer = TextTokenizer.from_file(
            model.version_dir / model.parameter(contract.Param.TOKENIZER_FILE, "tokenizer.json"),
            max_length=int(model.parameter(contract.Param.MAX_LENGTH)),
            pad_id=int(model.parameter(contract.Param.PAD_ID, "0")),
            with_token_type_ids=contract.TOKEN_TYPE_IDS in self.outputs,
            truncate=model.parameter(contract.Param.TRUNCATION, "true") == "true",
        )
        max_chars = model.parameter(contract.Param.MAX_CHARS, "")
        self.max_chars = int(max_chars) if max_chars else None

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = []
        for request in requests:
            try:
                batch = self._encode(request)
            except InvalidTextError as exc:
                responses.append(_error(str(exc)))
                continue
            arrays = batch.arrays()
            tensors = [pb_utils.Tensor(name, arrays[name]) for name in self.outputs]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def _encode(self, request: Any) -> TokenBatch:
        def rows(name: str) -> np.ndarray:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:  # Triton checks required inputs first; this guards direct calls
                raise InvalidTextError(f"the request has no {name} input: send {name} (BYTES, one row per text)")
            return tensor.as_numpy()

        if not self.pairs:
            return self.tokenizer.encode(decode_texts(rows(contract.TEXT), max_chars=self.max_chars))
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
        )


class EncoderModel:
    """Step 2: token tensors of many requests -> one row per text of each output, via ONNX Runtime."""

    def initialize(self, args: dict[str, str]) -> None:
        model = _ModelArgs(args)
        providers: list[Any] = ["CPUExecutionProvider"]
        if model.instance_kind == "GPU":
            providers = [("CUDAExecutionProvider", {"device_id": model.device_id}), *providers]
        self.encoder = OnnxEncoder(
            model.version_dir / model.parameter(contract.Param.ENCODER_FILE, "model.onnx"),
            intra_op_threads=int(
                model.parameter(contract.Param.INTRA_OP_THREADS, str(default_threads(model.instances)))
            ),
            providers=providers,
            max_batch_tokens=int(model.parameter(contract.Param.MAX_BATCH_TOKENS, str(DEFAULT_MAX_BATCH_TOKENS))),
            # The instance shares the CPU with the tokenizer step, tritonserver and its other
            # instances: spinning threads took half of it on a busy machine (bench: 22 -> 11 ms
            # CPU per request). config.pbtxt can turn it back on for a dedicated host.
            allow_spinning=model.parameter(contract.Param.INTRA_OP_SPINNING, "false").lower() == "true",
        )
        self.output_names = model.output_names
        self.pad_id = int(model.parameter(contract.Param.PAD_ID, "0"))

    def execute(self, requests: list[Any]) -> list[Any]:
        batches = [self._tokens(request) for request in requests]
        try:
            merged = TokenBatch.concat(batches, pad_id=self.pad_id)
            outputs = self.encoder.encode_outputs(merged)
        except Exception as exc:  # noqa: BLE001 - one failing forward must still answer everyone
            message = f"encoder failed on a batch of {len(requests)} requests: {exc}"
            return [_error(message, "INTERNAL") for _ in requests]
        responses = []
        start = 0
        for batch in batches:
            rows = slice(start, start + len(batch))
            start += len(batch)
            tensors = [pb_utils.Tensor(name, np.ascontiguousarray(outputs[name][rows])) for name in self.output_names]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def _tokens(self, request: Any) -> TokenBatch:
        def get(name: str) -> np.ndarray | None:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            return None if tensor is None else tensor.as_numpy()

        ids, mask = get(contract.INPUT_IDS), get(contract.ATTENTION_MASK)
        assert ids is not None and mask is not None
        return TokenBatch(input_ids=ids, attention_mask=mask, token_type_ids=get(contract.TOKEN_TYPE_IDS))
