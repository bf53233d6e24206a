"""Which task a model folder serves: embed, classify or rerank, decided from its own files.

The rules are deterministic and read only `config.json` and the sentence-transformers files, in
this order (the first that applies wins):

1. `--task` given by the user: taken as is (a classify/rerank request on a checkpoint without a
   sequence-classification head is refused: its head would be random).
2. A sentence-transformers folder (`modules.json`): embed.
3. A `*ForSequenceClassification` architecture: rerank when it has one label, or two labels and
   is declared a cross-encoder (a `sentence_transformers` section in config.json, or
   "cross-encoder" / "reranker" in its name); classify otherwise.
4. Anything else (a bare encoder, a masked-LM checkpoint, T5): embed, and the choice is marked
   as a fallback so the export notes say so.

Example:
    >>> choice = detect_task(source)  # doctest: +SKIP
    >>> choice.task, choice.reason  # doctest: +SKIP
    (<Task.RERANK: 'rerank'>, 'BertForSequenceClassification with one label: a cross-encoder')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from encoder_triton.contract import Task
from encoder_triton.errors import UnsupportedModelError
from encoder_triton.export.source.resolve import ModelSource

_SEQUENCE_CLASSIFIER = "ForSequenceClassification"
_RERANKER_NAME = re.compile(r"cross_?encoder|re_?rank", re.IGNORECASE)  # on `default_name` (a-z0-9_)


@dataclass(frozen=True)
class TaskChoice:
    """The task and why; `fallback` is True when nothing in the files declared it."""

    task: Task
    reason: str
    fallback: bool = False


def sequence_classifier(config: dict[str, Any]) -> str | None:
    """The `*ForSequenceClassification` architecture named in config.json, if any."""
    return next((a for a in config.get("architectures") or [] if a.endswith(_SEQUENCE_CLASSIFIER)), None)


def num_labels(config: dict[str, Any]) -> int:
    """The number of labels of a classification head (transformers' default is 2)."""
    if config.get("id2label"):
        return len(config["id2label"])
    return int(config.get("num_labels", 2))


def declared_cross_encoder(source: ModelSource) -> bool:
    """True when the files or the name say "cross-encoder" (sentence-transformers writes a
    `sentence_transformers` section into a CrossEncoder's config.json)."""
    # The model's own name (hub id's last part or folder name), never the whole path: a folder
    # under /tmp/rerank-experiments/ does not make every model in it a reranker.
    return "sentence_transformers" in source.config or bool(_RERANKER_NAME.search(source.default_name))


def detect_task(source: ModelSource, requested: Task | str | None = None) -> TaskChoice:
    """Decide the task of `source` (see the module docstring for the rules)."""
    classifier = sequence_classifier(source.config)
    labels = num_labels(source.config)
    if requested is not None:
        task = Task(requested)
        if task is not Task.EMBED and classifier is None:
            found = ", ".join(source.config.get("architectures") or []) or "no architectures"
            raise UnsupportedModelError(
                f"--task {task.value} needs a *ForSequenceClassification checkpoint, but {source.reference!r} "
                f"declares {found}: its head would be random. Export it with --task embed, or pass a fine-tuned "
                "classifier / cross-encoder."
            )
        if task is Task.RERANK and labels > 2:
            raise UnsupportedModelError(
                f"--task rerank needs a head with one label (or two: irrelevant/relevant), "
                f"{source.reference!r} has {labels}: export it with --task classify"
            )
        return TaskChoice(task, "set by --task")
    if source.is_sentence_transformer:
        return TaskChoice(Task.EMBED, "sentence-transformers model (modules.json)")
    if classifier is not None:
        if labels == 1:
            return TaskChoice(Task.RERANK, f"{classifier} with one label: a cross-encoder")
        if labels == 2 and declared_cross_encoder(source):
            return TaskChoice(Task.RERANK, f"{classifier} with two labels, declared a cross-encoder")
        return TaskChoice(Task.CLASSIFY, f"{classifier} with {labels} labels")
    found = ", ".join(source.config.get("architectures") or []) or "no architectures in config.json"
    return TaskChoice(
        Task.EMBED,
        f"no sentence-transformers files and no classification head ({found}): "
        "exported as an embedder; pass --task to choose otherwise",
        fallback=True,
    )
