"""Serving variants of an exported repository: other instance counts, queue delays, batching.

A sweep or the tuner needs the same model served with other config.pbtxt values.
`make_variant` writes a variant repository next to nothing it does not
own: every model folder is symlinked to the original except the components it edits, whose
config.pbtxt is read back into the typed configs and parameters that wrote it
(`export.repository.read_model`), changed with `dataclasses.replace` and rendered again
(`model_config.render`); their version folders are symlinks, so no model file is copied. A
config holding settings the dataclasses do not model is refused rather than rewritten without
them.

    instances            the encoder's `instance_group[0].count` (ONNX Runtime sessions;
                         each then gets cores // instances intra-op threads)
    max_queue_delay_us   `dynamic_batching.max_queue_delay_microseconds` of the tokenizer
                         and the encoder, as `ServingOptions.max_queue_delay_us` sets both
    intra_op_threads     the encoder's `intra_op_threads` parameter (ORT threads per instance)
    spinning             the encoder's `intra_op_spinning` parameter (ORT threads busy-wait)
    tokenizer_instances  the tokenizer's `instance_group[0].count`
    max_batch_size       `max_batch_size` of the ensemble and both steps (they must agree)
    max_batch_tokens     the encoder's padded-token budget per sub-batch
    batching             the encoder's `batching` parameter: token_budget or pad_to_longest

`apply_variant` writes a variant into the repository itself (what `encoder-triton tune` does
with the winner), keeping each previous config.pbtxt beside the new one.

Example:
    >>> variant = ServerVariant(instances=2, max_queue_delay_us=500, intra_op_threads=1)
    >>> variant.label
    'instances=2 delay=500us threads=1'
    >>> make_variant(Path("model_repository"), "minilm", variant, Path("/tmp/v"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from encoder_triton import contract
from encoder_triton.contract.model_config import DynamicBatching, InstanceGroup, ModelConfig, render
from encoder_triton.contract.params import EncoderParams
from encoder_triton.export.repository import ExportedModel, read_model

#: Variant knobs that are encoder parameters -> the `EncoderParams` field each one sets.
ENCODER_PARAM_KNOBS = {
    "intra_op_threads": "intra_op_threads",
    "spinning": "intra_op_spinning",
    "max_batch_tokens": "max_batch_tokens",
    "batching": "batching",
}


@dataclass(frozen=True)
class ServerVariant:
    """Config values to override; None keeps what the export wrote."""

    instances: int | None = None
    max_queue_delay_us: int | None = None
    intra_op_threads: int | None = None
    spinning: bool | None = None
    tokenizer_instances: int | None = None
    max_batch_size: int | None = None
    max_batch_tokens: int | None = None
    batching: str | None = None  # a contract.Batching value

    def __post_init__(self) -> None:
        for name in ("instances", "tokenizer_instances", "max_batch_size", "max_batch_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.max_queue_delay_us is not None and self.max_queue_delay_us < 0:
            raise ValueError(f"max_queue_delay_us must be >= 0, got {self.max_queue_delay_us}")
        if self.intra_op_threads is not None and self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be >= 0 (0: all cores), got {self.intra_op_threads}")
        if self.batching is not None:
            contract.Batching(self.batching)  # raises on an unknown value

    def knobs(self) -> dict[str, Any]:
        """The overridden values by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def replace(self, **changes: Any) -> ServerVariant:
        return dataclasses.replace(self, **changes)

    @property
    def is_default(self) -> bool:
        return not self.knobs()

    @property
    def label(self) -> str:
        names = {
            "instances": "instances={}",
            "tokenizer_instances": "tokenizers={}",
            "max_batch_size": "max_batch={}",
            "max_queue_delay_us": "delay={}us",
            "intra_op_threads": "threads={}",
            "max_batch_tokens": "budget={}",
            "batching": "batching={}",
        }
        parts = [names[k].format(v) for k, v in self.knobs().items() if k in names]
        if self.spinning is not None:
            parts.append(f"spinning={'on' if self.spinning else 'off'}")
        return " ".join(parts) or "as exported"


def serving_config(model: ExportedModel) -> dict[str, Any]:
    """The effective values of the knobs above, as the report states them."""
    options = model.options
    return {
        "max_batch_size": options.max_batch_size,
        "instances": options.instances,
        "tokenizer_instances": options.tokenizer_instances,
        "max_queue_delay_us": options.max_queue_delay_us,
        "parameters": dict(sorted(model.encoder.parameters.items())),
    }


def read_serving_config(repo: Path, model: str) -> dict[str, Any]:
    """`serving_config` of `model` as exported in `repo`."""
    return serving_config(read_model(repo, model))


def make_variant(repo: Path, model: str, variant: ServerVariant, target: Path) -> Path:
    """Write the variant repository into `target` (replaced if it exists); returns `target`."""
    repo, target = Path(repo).resolve(), Path(target)
    edited = edited_configs(repo, model, variant)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for folder in sorted(p for p in repo.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name not in edited:
            (target / folder.name).symlink_to(folder, target_is_directory=True)
            continue
        copy = target / folder.name
        copy.mkdir()
        for item in folder.iterdir():
            if item.name != "config.pbtxt":
                (copy / item.name).symlink_to(item, target_is_directory=item.is_dir())
        (copy / "config.pbtxt").write_text(render(edited[folder.name]))
    return target


def apply_variant(repo: Path, model: str, variant: ServerVariant, *, backup_suffix: str) -> list[Path]:
    """Edit `model`'s configs in place; each previous config.pbtxt is kept beside it as
    `config.pbtxt<backup_suffix>` (Triton reads only config.pbtxt). Returns the files written."""
    written = []
    for name, config in edited_configs(Path(repo), model, variant).items():
        path = Path(repo) / name / "config.pbtxt"
        backup = path.with_name(path.name + backup_suffix)
        if backup.exists():
            raise FileExistsError(f"{backup} exists already: pick another backup suffix")
        backup.write_text(path.read_text())
        path.write_text(render(config))
        written.append(path)
    return written


def edited_configs(repo: Path, model: str, variant: ServerVariant) -> dict[str, ModelConfig]:
    """The configs `variant` changes, by model name.

    The ensemble is edited only for `max_batch_size`: Triton requires an ensemble's limit to
    fit its steps', so the three change together (the client reads the new limit from the
    ensemble). Warm-up samples and preferred batch sizes above a lower limit are dropped.
    """
    exported = read_model(repo, model, strict=True)
    edited = {
        exported.tokenizer.name: _edit_step(exported.tokenizer, variant, variant.tokenizer_instances),
        exported.encoder.name: _edit_encoder(_edit_step(exported.encoder, variant, variant.instances), variant),
    }
    if variant.max_batch_size is not None:
        edited[exported.ensemble.name] = _limited(exported.ensemble, variant.max_batch_size)
    return edited


def _limited(config: ModelConfig, limit: int) -> ModelConfig:
    batching = config.dynamic_batching
    if batching is not None:
        batching = replace(batching, preferred_batch_size=tuple(b for b in batching.preferred_batch_size if b <= limit))
    return replace(
        config,
        max_batch_size=limit,
        warmups=tuple(w for w in config.warmups if w.batch_size <= limit),
        dynamic_batching=batching,
    )


def _edit_step(config: ModelConfig, variant: ServerVariant, instances: int | None) -> ModelConfig:
    if variant.max_batch_size is not None:
        config = _limited(config, variant.max_batch_size)
    if variant.max_queue_delay_us is not None:
        batching = config.dynamic_batching or DynamicBatching()
        config = replace(
            config, dynamic_batching=replace(batching, max_queue_delay_microseconds=variant.max_queue_delay_us)
        )
    if instances is not None:
        first, *rest = config.instance_groups or (InstanceGroup(kind="KIND_AUTO"),)
        config = replace(config, instance_groups=(replace(first, count=instances), *rest))
    return config


def _edit_encoder(config: ModelConfig, variant: ServerVariant) -> ModelConfig:
    """The encoder parameters the variant sets (ENCODER_PARAM_KNOBS), every other key kept."""
    changes: dict[str, Any] = {
        param: getattr(variant, knob)
        for knob, param in ENCODER_PARAM_KNOBS.items()
        if getattr(variant, knob) is not None
    }
    if not changes:
        return config
    params = replace(EncoderParams.from_parameters(config.parameters), **changes)
    return replace(config, parameters=params.merged(config.parameters))
