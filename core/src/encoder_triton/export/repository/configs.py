"""The three Triton configs of one exported encoder, as data (`ModelConfig`), by task.

    <name>             ensemble, the public model:
                         embed     TEXT -> EMBEDDING (a bge-m3-style model: + SPARSE_IDS,
                                   SPARSE_WEIGHTS, COLBERT_VECTORS, COLBERT_COUNT)
                         classify  TEXT -> LOGITS, PROBABILITIES
                         rerank    QUERY, TEXT -> SCORE, RAW_SCORE
                       and, for every task, TOKEN_COUNT and TRUNCATED (usage)
    <name>_tokenizer   python backend, dynamic batching, CPU instances
    <name>_encoder     python backend hosting ONNX Runtime, ragged inputs padded per batch, and
                       CHUNKS (the windows of long texts, pooled back here)
                       (or Triton's own backend: see `native`; it takes no CHUNKS)

Each model's `parameters` come from its typed params (`contract.params`): `EncoderSpec` says
what the exported model is, `ServingOptions` how it is served.

Example:
    >>> configs = repository_configs("minilm", spec, ServingOptions())  # doctest: +SKIP
    >>> [c.name for c in configs]  # doctest: +SKIP
    ['minilm', 'minilm_tokenizer', 'minilm_encoder']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from encoder_triton import contract
from encoder_triton.contract import LongInputs
from encoder_triton.contract.model_config import (
    EnsembleStep,
    InstanceGroup,
    ModelConfig,
    Tensor,
    Warmup,
    WarmupInput,
)
from encoder_triton.contract.params import (
    DEFAULT_LONG_INPUTS,
    DEFAULT_TOKENIZER_FILE,
    EncoderParams,
    EnsembleParams,
    TokenizerParams,
)
from encoder_triton.export.precision.execution import Backend, Device, EncoderExecution
from encoder_triton.export.repository.native import native_encoder_config
from encoder_triton.export.repository.options import ENCODER_KNOBS, ServingOptions

if TYPE_CHECKING:
    import numpy as np

#: Warmup batch sizes: one request alone, and a small batch (exercises padding and batching).
WARMUP_BATCHES = (1, 8)


@dataclass(frozen=True)
class WarmupSample:
    """A real text (and query, for rerank) and its tokens: Triton runs both steps on them at
    load, before traffic."""

    text: str
    tokens: dict[str, np.ndarray]
    query: str | None = None


@dataclass(frozen=True)
class EncoderSpec:
    """What the exported encoder looks like, as far as the configs are concerned.

    `dimension` is the width of each output row: the embedding size (embed), the number of
    labels (classify), 1 (rerank).
    """

    task: contract.Task
    dimension: int
    max_length: int
    pad_id: int
    encoder_inputs: tuple[str, ...]
    source_model: str
    labels: tuple[str, ...] = ()  # classify: label names in LOGITS column order
    activation: contract.Activation | None = None  # classify
    normalized: bool = False  # embed: unit-length EMBEDDING rows
    #: bge-m3-style embedders: the width of each multi-vector (COLBERT_VECTORS) and the token
    #: ids the sparse output leaves out; None for every other model.
    colbert_dimension: int | None = None
    special_token_ids: tuple[int, ...] = ()
    #: File, runner, precision, backend and device of the encoder step (issue 10).
    execution: EncoderExecution = EncoderExecution()

    def __post_init__(self) -> None:
        if self.task is contract.Task.CLASSIFY and (len(self.labels) != self.dimension or self.activation is None):
            raise ValueError(f"a classifier needs {self.dimension} labels and an activation, got {self.labels}")
        if self.task is contract.Task.RERANK and self.dimension != 1:
            raise ValueError(f"a reranker's outputs have dimension 1, got {self.dimension}")
        if self.colbert_dimension is not None and self.task is not contract.Task.EMBED:
            raise ValueError("sparse and multi-vector outputs belong to embedders")

    def output_tensors(self) -> tuple[Tensor, ...]:
        """The encoder step's outputs: its task's, then a bge-m3-style model's extra three forms."""
        outputs = tuple(Tensor(n, contract.DTYPE_FLOAT, (self.dimension,)) for n in contract.TASK_OUTPUTS[self.task])
        if self.colbert_dimension is None:
            return outputs
        return (
            *outputs,
            Tensor(contract.SPARSE_IDS, contract.DTYPE_TOKENS, (-1,)),
            Tensor(contract.SPARSE_WEIGHTS, contract.DTYPE_FLOAT, (-1,)),
            Tensor(contract.COLBERT_VECTORS, contract.DTYPE_FLOAT, (-1, self.colbert_dimension)),
            Tensor(contract.COLBERT_COUNT, contract.DTYPE_TOKENS, (1,)),
        )


def tokenizer_params(spec: EncoderSpec, options: ServingOptions) -> TokenizerParams:
    return TokenizerParams(
        max_length=spec.max_length,
        pad_id=spec.pad_id,
        tokenizer_file=DEFAULT_TOKENIZER_FILE,
        truncation=options.long_inputs is not LongInputs.ERROR,
        max_chars=options.max_chars,
        length_buckets=spec.execution.length_buckets,
        long_inputs=_written(options.long_inputs),
        chunk_overlap=options.chunk_overlap,
    )


def _written(policy: LongInputs) -> LongInputs | None:
    # The default is left out: the configs of default exports stay as they were before the key.
    return None if policy is DEFAULT_LONG_INPUTS else policy


def encoder_params(spec: EncoderSpec, options: ServingOptions) -> EncoderParams:
    """The python backend's encoder parameters (a native backend takes its own)."""
    execution = spec.execution
    on_gpu_ort = execution.device is Device.GPU and execution.runner is contract.Runner.ONNXRUNTIME
    return EncoderParams(
        max_length=spec.max_length,
        pad_id=spec.pad_id,
        encoder_file=execution.file,
        precision=execution.precision,
        runner=execution.runner,
        execution_providers=execution.gpu_providers if on_gpu_ort else None,
        normalized=spec.normalized and spec.task is contract.Task.EMBED,
        activation=spec.activation if spec.task is contract.Task.CLASSIFY else None,
        special_token_ids=spec.special_token_ids,
        **{name: getattr(options, name) for name in ENCODER_KNOBS},
    )


def ensemble_params(spec: EncoderSpec, options: ServingOptions) -> EnsembleParams:
    """What clients read from the ensemble's config to use the model."""
    classify = spec.task is contract.Task.CLASSIFY
    return EnsembleParams(
        task=spec.task,
        dimension=spec.dimension,
        normalized=spec.normalized if spec.task is contract.Task.EMBED else None,
        labels=spec.labels if classify else None,
        activation=spec.activation if classify else None,
        max_length=spec.max_length,
        truncation=options.long_inputs is not LongInputs.ERROR,
        max_chars=options.max_chars,
        source_model=spec.source_model,
        precision=spec.execution.precision,
        long_inputs=_written(options.long_inputs),
    )


def repository_configs(
    name: str, spec: EncoderSpec, options: ServingOptions, warmup: WarmupSample | None = None
) -> list[ModelConfig]:
    """The ensemble, tokenizer and encoder configs, in that order (warmups only with a sample)."""
    tokenizer_name, encoder_name = contract.component_names(name)
    batching = options.dynamic_batching()
    native = spec.execution.backend is Backend.NATIVE
    if native and (options.long_inputs is LongInputs.CHUNK or spec.colbert_dimension is not None):
        raise ValueError(
            "a native encoder backend cannot pool chunks or build sparse and multi-vector outputs: "
            "export with the python backend, or another --long-inputs"
        )
    texts = tuple(Tensor(n, contract.DTYPE_TEXT, (1,)) for n in contract.TASK_INPUTS[spec.task])
    outputs = spec.output_tensors()
    tokens = tuple(Tensor(n, contract.DTYPE_TOKENS, (-1,)) for n in spec.encoder_inputs)
    ragged_tokens = tuple(Tensor(n, contract.DTYPE_TOKENS, (-1,), allow_ragged_batch=True) for n in spec.encoder_inputs)
    # The python encoder step expands a long text's windows into rows and pools them back; a
    # request sent straight to it (token ids) may leave CHUNKS out.
    chunks = (
        ()
        if native
        else (Tensor(contract.CHUNKS, contract.DTYPE_TOKENS, (1,), allow_ragged_batch=True, optional=True),)
    )
    usage = (
        Tensor(contract.TOKEN_COUNT, contract.DTYPE_TOKENS, (1,)),
        Tensor(contract.TRUNCATED, contract.DTYPE_TOKENS, (1,)),
    )
    warm = options.warmup and warmup is not None
    sample_tokens = warmup.tokens if warmup is not None else {}
    batches = sorted({min(b, options.max_batch_size) for b in WARMUP_BATCHES})

    tokenizer = ModelConfig(
        name=tokenizer_name,
        backend="python",
        max_batch_size=options.max_batch_size,
        inputs=texts,
        outputs=(*tokens, *usage, *(Tensor(c.name, c.dtype, c.dims) for c in chunks)),
        dynamic_batching=batching,
        instance_groups=(InstanceGroup(count=options.tokenizer_instances, kind="KIND_CPU"),),
        parameters=tokenizer_params(spec, options).to_parameters(),
        warmups=tuple(
            Warmup(
                f"sample text x{b}",
                b,
                tuple(WarmupInput(t.name, contract.DTYPE_TEXT, (1,), t.name.lower()) for t in texts),
            )
            for b in batches
        )
        if warm
        else (),
    )
    encoder_warmups = (
        tuple(
            Warmup(
                f"sample tokens x{b}",
                b,
                tuple(
                    WarmupInput(n, contract.DTYPE_TOKENS, (int(sample_tokens[n].shape[-1]),), n)
                    for n in spec.encoder_inputs
                ),
            )
            for b in batches
        )
        if warm
        else ()
    )
    if native:
        encoder = native_encoder_config(
            encoder_name,
            inputs=ragged_tokens,
            outputs=outputs,
            execution=spec.execution,
            max_batch_size=options.max_batch_size,
            instances=options.instances,
            batching=batching,
            warmups=encoder_warmups,
            rate_limiter_resources=options.rate_limiter_resources,
        )
    else:
        encoder = ModelConfig(
            name=encoder_name,
            backend="python",
            max_batch_size=options.max_batch_size,
            inputs=(*ragged_tokens, *chunks),
            outputs=outputs,
            dynamic_batching=batching,
            instance_groups=(
                InstanceGroup(
                    count=options.instances,
                    kind=spec.execution.instance_kind,
                    rate_limiter_resources=options.rate_limiter_resources,
                ),
            ),
            parameters=encoder_params(spec, options).to_parameters(),
            warmups=encoder_warmups,
        )
    ensemble = ModelConfig(
        name=name,
        platform="ensemble",
        max_batch_size=options.max_batch_size,
        inputs=texts,
        outputs=(*outputs, *usage),
        ensemble_steps=(
            EnsembleStep(
                tokenizer_name,
                {t.name: t.name for t in texts},
                {n: n for n in (*spec.encoder_inputs, *(t.name for t in (*usage, *chunks)))},
            ),
            EnsembleStep(
                encoder_name,
                {n: n for n in (*spec.encoder_inputs, *(t.name for t in chunks))},
                {t.name: t.name for t in outputs},
            ),
        ),
        parameters=ensemble_params(spec, options).to_parameters(),
        response_cache=options.response_cache,
    )
    return [ensemble, tokenizer, encoder]
