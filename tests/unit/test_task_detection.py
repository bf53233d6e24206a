"""Task detection from config.json and the sentence-transformers files: deterministic rules."""

import json
from pathlib import Path
from typing import Any

import pytest

from encoder_triton.contract import Task
from encoder_triton.errors import UnsupportedModelError
from encoder_triton.export.source.resolve import ModelSource, resolve_model
from encoder_triton.export.source.tasks import detect_task


def _source(tmp_path: Path, config: dict[str, Any], *, name: str = "model", st: bool = False) -> ModelSource:
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    if st:
        (folder / "modules.json").write_text("[]")
    return resolve_model(str(folder))


def _classifier(labels: int, **extra: Any) -> dict[str, Any]:
    return {
        "model_type": "bert",
        "architectures": ["BertForSequenceClassification"],
        "id2label": {str(i): f"L{i}" for i in range(labels)},
        **extra,
    }


def test_sentence_transformers_folders_embed(tmp_path: Path) -> None:
    choice = detect_task(_source(tmp_path, {"model_type": "bert", "architectures": ["BertModel"]}, st=True))
    assert (choice.task, choice.fallback) == (Task.EMBED, False)


def test_a_one_label_sequence_classifier_is_a_reranker(tmp_path: Path) -> None:
    choice = detect_task(_source(tmp_path, _classifier(1)))
    assert choice.task is Task.RERANK
    assert "one label" in choice.reason


def test_several_labels_classify_including_multi_label(tmp_path: Path) -> None:
    assert detect_task(_source(tmp_path, _classifier(3), name="a")).task is Task.CLASSIFY
    multi = _classifier(6, problem_type="multi_label_classification")
    assert detect_task(_source(tmp_path, multi, name="b")).task is Task.CLASSIFY


def test_two_labels_rerank_only_when_declared_a_cross_encoder(tmp_path: Path) -> None:
    assert detect_task(_source(tmp_path, _classifier(2), name="sentiment")).task is Task.CLASSIFY
    # Only the model's own name counts, not the folders above it.
    nested = _source(tmp_path / "rerank-experiments", _classifier(2), name="sentiment")
    assert detect_task(nested).task is Task.CLASSIFY
    assert detect_task(_source(tmp_path, _classifier(2), name="msmarco-reranker")).task is Task.RERANK
    declared = _classifier(2, sentence_transformers={"activation_fn": "torch.nn.Sigmoid"})
    assert detect_task(_source(tmp_path, declared, name="x")).task is Task.RERANK


def test_plain_encoders_fall_back_to_embed_and_say_so(tmp_path: Path) -> None:
    for name, architectures in (("bare", ["BertModel"]), ("mlm", ["BertForMaskedLM"]), ("none", None)):
        config = {"model_type": "bert", **({"architectures": architectures} if architectures else {})}
        choice = detect_task(_source(tmp_path, config, name=name))
        assert (choice.task, choice.fallback) == (Task.EMBED, True)
        assert "pass --task" in choice.reason


def test_the_decision_is_deterministic(tmp_path: Path) -> None:
    source = _source(tmp_path, _classifier(1))
    assert len({detect_task(source) for _ in range(5)}) == 1


def test_task_overrides_detection(tmp_path: Path) -> None:
    reranker = _source(tmp_path, _classifier(1), name="r")
    assert detect_task(reranker, "embed").task is Task.EMBED
    assert detect_task(reranker, Task.CLASSIFY).reason == "set by --task"


def test_classify_or_rerank_needs_a_trained_head(tmp_path: Path) -> None:
    bare = _source(tmp_path, {"model_type": "bert", "architectures": ["BertModel"]})
    with pytest.raises(UnsupportedModelError, match="needs a \\*ForSequenceClassification checkpoint"):
        detect_task(bare, "classify")
    with pytest.raises(UnsupportedModelError, match="has 5: export it with --task classify"):
        detect_task(_source(tmp_path, _classifier(5), name="five"), "rerank")
    with pytest.raises(ValueError):
        detect_task(bare, "summarize")
