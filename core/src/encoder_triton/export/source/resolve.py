"""Where a model comes from: a local folder or a Hugging Face hub id, and what it declares.

Example:
    >>> source = resolve_model("path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> source.default_name, source.max_length  # doctest: +SKIP
    ('all_minilm_l6_v2', 256)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoder_triton.errors import ModelSourceError
from encoder_triton.extras import require_extra

#: The longest max_length an export picks by itself (one text's limit, not the encoder's token
#: budget): some models declare position tables far longer than they are used at, and
#: attention's cost grows with the square of the length; `--max-length` asks for more.
LONGEST_DEFAULT_MAX_LENGTH = 8192
#: Folder names too generic to name a model after (the packaged model lives in `.../model`).
_GENERIC_DIRS = {"model", "models", "snapshot", "main", "onnx"}


@dataclass(frozen=True)
class ModelSource:
    """A model folder on disk and the facts the export needs from its config files."""

    path: Path
    reference: str  # what the user passed (hub id or folder), recorded in reports
    config: dict[str, Any]

    @property
    def is_sentence_transformer(self) -> bool:
        return (self.path / "modules.json").is_file()

    @property
    def default_name(self) -> str:
        """A Triton-safe model name derived from the hub id or folder name."""
        parts = [p for p in re.split(r"[/\\]", self.reference.rstrip("/\\")) if p]
        while len(parts) > 1 and parts[-1].lower() in _GENERIC_DIRS:
            parts.pop()
        return re.sub(r"[^a-z0-9]+", "_", parts[-1].lower()).strip("_") or "encoder"

    @property
    def max_length(self) -> int:
        """The sequence limit the model was trained for.

        sentence-transformers' `max_seq_length` first (files saved before v5); else the
        tokenizer's `model_max_length` (where v5 keeps it, and what transformers truncates to),
        bounded by the positions the model has.
        """
        st_config = self.path / "sentence_bert_config.json"
        if st_config.is_file():
            value = json.loads(st_config.read_text()).get("max_seq_length")
            if value:
                return int(value)
        positions = int(self.config.get("max_position_embeddings", 512))
        # RoBERTa-style models (and MPNet) number positions from padding_idx + 1.
        if self.config.get("model_type") in {"roberta", "xlm-roberta", "camembert", "mpnet"}:
            positions -= int(self.config.get("pad_token_id", 1)) + 1
        limit = min(positions, LONGEST_DEFAULT_MAX_LENGTH)
        tokenizer_config = self.path / "tokenizer_config.json"
        if tokenizer_config.is_file():
            declared = json.loads(tokenizer_config.read_text()).get("model_max_length")
            # transformers writes a huge sentinel (1e30) when a tokenizer declares no limit.
            if isinstance(declared, int | float) and 0 < declared < 1_000_000:
                limit = min(limit, int(declared))
        return limit


def resolve_model(model: str, revision: str | None = None) -> ModelSource:
    """Find MODEL on disk, downloading a hub id through huggingface_hub when it is not a folder."""
    path = Path(model).expanduser()
    if not path.is_dir():
        if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
            raise ModelSourceError(f"{model!r} is not a model folder: pass a folder with config.json or a hub id")
        path = _download(model, revision)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelSourceError(f"{path} has no config.json: point MODEL at a Hugging Face model folder")
    return ModelSource(path=path.resolve(), reference=model, config=json.loads(config_file.read_text()))


def _download(repo_id: str, revision: str | None) -> Path:
    require_extra("export", needed_by=f"downloading {repo_id!r} from the Hugging Face hub")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision))
    except Exception as exc:  # noqa: BLE001 - hub errors are many; all mean "not fetched"
        raise ModelSourceError(
            f"could not fetch {repo_id!r} from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            "Offline? Download it elsewhere and pass the local folder instead."
        ) from exc
