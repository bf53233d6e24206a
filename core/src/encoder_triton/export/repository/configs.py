"""The three Triton configs of one exported encoder, as data (`ModelConfig`), by task.

    <name>             ensemble, the public model:
                         embed     TEXT -> EMBEDDING
                         classify  TEXT -> LOGITS, PROBABILITIES
                         rerank    QUERY, TEXT -> SCORE, RAW_SCORE
    <name>_tokenizer   python backend, dynamic batching, CPU instances
    <name>_encoder     python backend hosting ONNX Runtime, ragged inputs padded per batch
                       (or Triton's own backend: see `native`)

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
from encoder_triton.contract.model_config import (
    EnsembleStep,
    InstanceGroup,
    ModelConfig,
    Tensor,
    Warmup,
    WarmupInput,
)
from encoder_triton.contract.params import DEFAULT_TOKENIZER_FILE, EncoderParams, EnsembleParams, TokenizerParams
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
    #: File, runner, precision, backend and device of the encoder step (issue 10).
    execution: EncoderExecution = EncoderExecution()

    def __post_init__(self) -> None:
        if self.task is contract.Task.CLASSIFY and (len(self.labels) != self.dimension or self.activation is None):
            raise ValueError(f"a classifier needs {self.dimension} labels and an activation, got {self.labels}")
        if self.task is contract.Task.RERANK and self.dimension != 1:
            raise ValueError(f"a reranker's outputs have dimension 1, got {self.dimension}")


def tokenizer_params(spec: EncoderSpec, options: ServingOptions) -> TokenizerParams:
    return TokenizerParams(
        max_length=spec.max_length,
        pad_id=spec.pad_id,
        tokenizer_file=DEFAULT_TOKENIZER_FILE,
        truncation=options.truncate,
        max_chars=options.max_chars,
        length_buckets=spec.execution.length_buckets,
    )


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
        truncation=options.truncate,
        max_chars=options.max_chars,
        source_model=spec.source_model,
        precision=spec.execution.precision,
    )


def repository_configs(
    name: str, spec: EncoderSpec, options: ServingOptions, warmup: WarmupSample | None = None
) -> list[ModelConfig]:
    """The ensemble, tokenizer and encoder configs, in that order (warmups only with a sample)."""
    tokenizer_name, encoder_name = contract.component_names(name)
    batching = options.dynamic_batching()
    texts = tuple(Tensor(n, contract.DTYPE_TEXT, (1,)) for n in contract.TASK_INPUTS[spec.task])
    outputs = tuple(Tensor(n, contract.DTYPE_FLOAT, (spec.dimension,)) for n in contract.TASK_OUTPUTS[spec.task])
    tokens = tuple(Tensor(n, contract.DTYPE_TOKENS, (-1,)) for n in spec.encoder_inputs)
    ragged_tokens = tuple(Tensor(n, contract.DTYPE_TOKENS, (-1,), allow_ragged_batch=True) for n in spec.encoder_inputs)
    warm = options.warmup and warmup is not None
    sample_tokens = warmup.tokens if warmup is not None else {}
    batches = sorted({min(b, options.max_batch_size) for b in WARMUP_BATCHES})

    token_count = Tensor(contract.TOKEN_COUNT, contract.DTYPE_TOKENS, (1,))
    tokenizer = ModelConfig(
        name=tokenizer_name,
        backend="python",
        max_batch_size=options.max_batch_size,
        inputs=texts,
        outputs=(*tokens, token_count),
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
    if spec.execution.backend is Backend.NATIVE:
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
            inputs=ragged_tokens,
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
        outputs=(*outputs, token_count),
        ensemble_steps=(
            EnsembleStep(
                tokenizer_name,
                {t.name: t.name for t in texts},
                {n: n for n in (*spec.encoder_inputs, contract.TOKEN_COUNT)},
            ),
            EnsembleStep(encoder_name, {n: n for n in spec.encoder_inputs}, {t.name: t.name for t in outputs}),
        ),
        parameters=ensemble_params(spec, options).to_parameters(),
        response_cache=options.response_cache,
    )
    return [ensemble, tokenizer, encoder]
