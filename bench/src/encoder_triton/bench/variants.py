"""Serving variants of an exported repository: other instance counts and queue delays.

A sweep over instance counts or `max_queue_delay` needs the same model served with other
config.pbtxt values. `make_variant` writes a variant repository next to nothing it does not
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

Example:
    >>> variant = ServerVariant(instances=2, max_queue_delay_us=500, intra_op_threads=1)
    >>> variant.label
    'instances=2 delay=500us threads=1'
    >>> make_variant(Path("model_repository"), "minilm", variant, Path("/tmp/v"))  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
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

    def __post_init__(self) -> None:
        if self.instances is not None and self.instances < 1:
            raise ValueError(f"instances must be >= 1, got {self.instances}")
        if self.max_queue_delay_us is not None and self.max_queue_delay_us < 0:
            raise ValueError(f"max_queue_delay_us must be >= 0, got {self.max_queue_delay_us}")
        if self.intra_op_threads is not None and self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be >= 0 (0: all cores), got {self.intra_op_threads}")

    @property
    def is_default(self) -> bool:
        return all(v is None for v in (self.instances, self.max_queue_delay_us, self.intra_op_threads, self.spinning))

    @property
    def label(self) -> str:
        parts = []
        if self.instances is not None:
            parts.append(f"instances={self.instances}")
        if self.max_queue_delay_us is not None:
            parts.append(f"delay={self.max_queue_delay_us}us")
        if self.intra_op_threads is not None:
            parts.append(f"threads={self.intra_op_threads}")
        if self.spinning is not None:
            parts.append(f"spinning={'on' if self.spinning else 'off'}")
        return " ".join(parts) or "as exported"


def read_serving_config(repo: Path, model: str) -> dict[str, Any]:
    """The effective values of the knobs above, read from the repository (for the report)."""
    from encoder_triton.exporter.triton_config import parse

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

    from encoder_triton.exporter.triton_config import parse

    repo, target = Path(repo).resolve(), Path(target)
    tokenizer_name, encoder_name = contract.component_names(model)
    edits = {tokenizer_name: False, encoder_name: True}  # name -> is the encoder
    for name in edits:
        if not (repo / name / "config.pbtxt").is_file():
            raise FileNotFoundError(f"{repo / name}/config.pbtxt not found: is {model!r} exported in {repo}?")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for folder in sorted(p for p in repo.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name not in edits:
            (target / folder.name).symlink_to(folder, target_is_directory=True)
            continue
        config = parse((folder / "config.pbtxt").read_text())
        if variant.max_queue_delay_us is not None:
            config.dynamic_batching.max_queue_delay_microseconds = variant.max_queue_delay_us
        if variant.instances is not None and edits[folder.name]:
            groups = config.instance_group
            if len(groups) == 0:
                groups.add()
            groups[0].count = variant.instances
        if variant.intra_op_threads is not None and edits[folder.name]:
            config.parameters[contract.Param.INTRA_OP_THREADS].string_value = str(variant.intra_op_threads)
        if variant.spinning is not None and edits[folder.name]:
            config.parameters[contract.Param.INTRA_OP_SPINNING].string_value = str(variant.spinning).lower()
        copy = target / folder.name
        copy.mkdir()
        for item in folder.iterdir():
            if item.name != "config.pbtxt":
                (copy / item.name).symlink_to(item, target_is_directory=item.is_dir())
        (copy / "config.pbtxt").write_text(text_format.MessageToString(config))
    return target
