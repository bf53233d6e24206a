"""Serving variants of an exported repository: other instance counts, queue delays, batching.

A sweep or the tuner needs the same model served with other config.pbtxt values.
`make_variant` writes a variant repository next to nothing it does not
own: every model folder is symlinked to the original except the components it edits, whose
config.pbtxt is parsed with Triton's schema (`triton_config.parse`), changed as a message and
written back with protobuf's text format (the same rendering `triton_config.render` ends in);
their version folders are symlinks, so no model file is copied.

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
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from encoder_triton import contract


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


def read_serving_config(repo: Path, model: str) -> dict[str, Any]:
    """The effective values of the knobs above, read from the repository (for the report)."""
    from encoder_triton.contract.model_config import parse

    tokenizer_name, encoder_name = contract.component_names(model)
    encoder = parse((Path(repo) / encoder_name / "config.pbtxt").read_text())
    tokenizer = parse((Path(repo) / tokenizer_name / "config.pbtxt").read_text())
    return {
        "max_batch_size": int(encoder.max_batch_size),
        "instances": sum(int(g.count or 1) for g in encoder.instance_group) or 1,
        "tokenizer_instances": sum(int(g.count or 1) for g in tokenizer.instance_group) or 1,
        "max_queue_delay_us": int(encoder.dynamic_batching.max_queue_delay_microseconds),
        "parameters": {k: v.string_value for k, v in sorted(encoder.parameters.items())},
    }


def make_variant(repo: Path, model: str, variant: ServerVariant, target: Path) -> Path:
    """Write the variant repository into `target` (replaced if it exists); returns `target`."""
    from google.protobuf import text_format

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
        (copy / "config.pbtxt").write_text(text_format.MessageToString(edited[folder.name]))
    return target


def apply_variant(repo: Path, model: str, variant: ServerVariant, *, backup_suffix: str) -> list[Path]:
    """Edit `model`'s configs in place; each previous config.pbtxt is kept beside it as
    `config.pbtxt<backup_suffix>` (Triton reads only config.pbtxt). Returns the files written."""
    from google.protobuf import text_format

    written = []
    for name, config in edited_configs(Path(repo), model, variant).items():
        path = Path(repo) / name / "config.pbtxt"
        backup = path.with_name(path.name + backup_suffix)
        if backup.exists():
            raise FileExistsError(f"{backup} exists already: pick another backup suffix")
        backup.write_text(path.read_text())
        path.write_text(text_format.MessageToString(config))
        written.append(path)
    return written


def edited_configs(repo: Path, model: str, variant: ServerVariant) -> dict[str, Any]:
    """The configs `variant` changes, by model name, as edited ModelConfig messages.

    The ensemble is edited only for `max_batch_size`: Triton requires an ensemble's limit to
    fit its steps', so the three change together (the client reads the new limit from the
    ensemble). Warm-up samples and preferred batch sizes above a lower limit are dropped.
    """
    from encoder_triton.contract.model_config import parse

    tokenizer_name, encoder_name = contract.component_names(model)
    roles = {tokenizer_name: "tokenizer", encoder_name: "encoder"}
    if variant.max_batch_size is not None:
        roles[model] = "ensemble"
    edited = {}
    for name, role in roles.items():
        path = Path(repo) / name / "config.pbtxt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {model!r} exported in {repo}?")
        config = parse(path.read_text())
        _edit(config, role, variant)
        edited[name] = config
    return edited


def _edit(config: Any, role: str, variant: ServerVariant) -> None:
    if variant.max_batch_size is not None:
        limit = variant.max_batch_size
        config.max_batch_size = limit
        kept = [w for w in config.model_warmup if w.batch_size <= limit]
        del config.model_warmup[:]
        config.model_warmup.extend(kept)
        if config.HasField("dynamic_batching"):
            preferred = [b for b in config.dynamic_batching.preferred_batch_size if b <= limit]
            del config.dynamic_batching.preferred_batch_size[:]
            config.dynamic_batching.preferred_batch_size.extend(preferred)
    if role == "ensemble":
        return
    if variant.max_queue_delay_us is not None:
        config.dynamic_batching.max_queue_delay_microseconds = variant.max_queue_delay_us
    count = variant.instances if role == "encoder" else variant.tokenizer_instances
    if count is not None:
        if len(config.instance_group) == 0:
            config.instance_group.add()
        config.instance_group[0].count = count
    if role != "encoder":
        return
    parameters = {
        contract.Param.INTRA_OP_THREADS: variant.intra_op_threads,
        contract.Param.INTRA_OP_SPINNING: None if variant.spinning is None else str(variant.spinning).lower(),
        contract.Param.MAX_BATCH_TOKENS: variant.max_batch_tokens,
        contract.Param.BATCHING: variant.batching,
    }
    for key, value in parameters.items():
        if value is not None:
            config.parameters[key].string_value = str(value)
