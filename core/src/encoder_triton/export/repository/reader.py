"""Reads exported models back from a repository, through the dataclasses that wrote them.

`read_model` gives one export's three configs (`ModelConfig`), their typed parameters
(`contract.params`) and the `ServingOptions` they were written with; `list_ensembles` says what
each public model of a repository is. The bench's variants and tuner, its in-process baseline
and `encoder-triton serve` all read a repository here.

Example:
    >>> model = read_model(Path("model_repository"), "minilm")  # doctest: +SKIP
    >>> model.options.instances, model.encoder_params.batching.value  # doctest: +SKIP
    (1, 'token_budget')
    >>> [e.name for e in list_ensembles(Path("model_repository"))]  # doctest: +SKIP
    ['minilm', 'reranker']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from encoder_triton import contract
from encoder_triton.contract.model_config import DynamicBatching, ModelConfig, parse_file
from encoder_triton.contract.params import EncoderParams, EnsembleParams, TokenizerParams
from encoder_triton.export.repository.options import ENCODER_KNOBS, ServingOptions


@dataclass(frozen=True)
class ExportedModel:
    """One export read back: the ensemble and its two steps, as written."""

    repo: Path
    ensemble: ModelConfig
    tokenizer: ModelConfig
    encoder: ModelConfig

    @property
    def name(self) -> str:
        return self.ensemble.name

    @property
    def native(self) -> bool:
        """The encoder runs on Triton's own backend (its parameters are that backend's)."""
        return self.encoder.backend != "python"

    @property
    def ensemble_params(self) -> EnsembleParams:
        return EnsembleParams.from_parameters(self.ensemble.parameters)

    @property
    def tokenizer_params(self) -> TokenizerParams:
        return TokenizerParams.from_parameters(self.tokenizer.parameters)

    @property
    def encoder_params(self) -> EncoderParams | None:
        """The python backend's encoder parameters; None for a native backend."""
        return None if self.native else EncoderParams.from_parameters(self.encoder.parameters)

    def version_dir(self, config: ModelConfig, version: str = "1") -> Path:
        return self.repo / config.name / version

    @property
    def options(self) -> ServingOptions:
        """The serving options these configs were rendered from (what the tuner starts from).

        The steps' batching knobs are the encoder's; a native encoder has no parameters of ours,
        so its `ENCODER_KNOBS` keep their defaults.
        """
        batching = self.encoder.dynamic_batching or DynamicBatching()
        tokenizer, encoder = self.tokenizer_params, self.encoder_params
        groups = self.encoder.instance_groups
        return ServingOptions(
            max_batch_size=self.encoder.max_batch_size,
            instances=sum(g.count for g in groups) or 1,
            tokenizer_instances=sum(g.count for g in self.tokenizer.instance_groups) or 1,
            max_queue_delay_us=batching.max_queue_delay_microseconds,
            preferred_batch_sizes=batching.preferred_batch_size,
            max_queue_size=batching.max_queue_size,
            queue_timeout_us=batching.queue_timeout_microseconds,
            response_cache=self.ensemble.response_cache,
            warmup=bool(self.tokenizer.warmups or self.encoder.warmups),
            rate_limiter_resources=groups[0].rate_limiter_resources if groups else (),
            max_chars=tokenizer.max_chars,
            long_inputs=tokenizer.long_input_policy,
            chunk_overlap=tokenizer.chunk_overlap,
            **({} if encoder is None else {name: getattr(encoder, name) for name in ENCODER_KNOBS}),
        )


def read_model(repo: Path, name: str, *, strict: bool = False) -> ExportedModel:
    """The export `name` in `repo`. `strict`: refuse configs holding settings the dataclasses
    do not model (for callers that write them back, see `ModelConfig.from_proto`)."""
    repo = Path(repo)
    configs = []
    for model in (name, *contract.component_names(name)):
        path = repo / model / "config.pbtxt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {name!r} exported in {repo}?")
        configs.append(parse_file(path, strict=strict))
    return ExportedModel(repo, *configs)


@dataclass(frozen=True)
class EnsembleInfo:
    """One public model of a repository, as its ensemble config describes it."""

    name: str
    task: str
    source_model: str = ""
    dimension: int | None = None
    labels: tuple[str, ...] = field(default_factory=tuple)
    components: tuple[str, ...] = field(default_factory=tuple)


def list_ensembles(repo: Path) -> list[EnsembleInfo]:
    """The ensembles in `repo` written by encoder-triton, sorted by name (others are skipped)."""
    found = []
    for config_file in sorted(Path(repo).glob("*/config.pbtxt")):
        try:
            config = parse_file(config_file)
            params = EnsembleParams.from_parameters(config.parameters)
        except Exception:  # noqa: BLE001 - a foreign or broken config is not ours to list
            continue
        if config.platform != "ensemble" or params.task is None:
            continue
        found.append(
            EnsembleInfo(
                name=config.name,
                task=params.task.value,
                source_model=params.source_model or "",
                dimension=params.dimension,
                labels=params.labels or (),
                components=tuple(step.model_name for step in config.ensemble_steps),
            )
        )
    return found
