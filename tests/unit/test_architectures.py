"""The architecture registry, and the meta-test: every registered architecture and task has a
tiny model that tests/integration/test_architectures_serving.py exports, serves and compares."""

import contextlib
import dataclasses
from dataclasses import FrozenInstanceError

import pytest

from encoder_triton.contract import Task
from encoder_triton.errors import UnsupportedModelError
from encoder_triton.export.source.architectures import (
    OptimumExport,
    architecture_for,
    register,
    registered_architectures,
)
from tiny_models import ARCHITECTURES, CASES

#: What the issue asks us to serve; the registry may grow, never shrink below this.
REQUIRED = {"bert", "distilbert", "roberta", "xlm-roberta", "mpnet", "deberta-v2", "modernbert", "electra", "t5"}


def test_every_registered_architecture_and_task_has_a_tiny_model_test() -> None:
    registered = {
        (model_type, task.value) for model_type, spec in registered_architectures().items() for task in spec.tasks
    }
    tested = {(case.model_type, case.task) for case in CASES}
    missing = sorted(registered - tested)
    assert not missing, f"registered without a tiny-model test (add them to tests/tiny_models.py): {missing}"
    assert tested <= registered, f"tested but not registered: {sorted(tested - registered)}"
    assert set(ARCHITECTURES) == set(registered_architectures())


def test_the_required_architectures_are_registered() -> None:
    assert REQUIRED <= set(registered_architectures())


def test_a_model_type_is_registered_once() -> None:
    with pytest.raises(ValueError, match="'bert' is already registered by BertExport"):

        @register("bert")
        class AnotherBert(OptimumExport):
            pass


def test_unregistered_model_types_fall_back_to_optimum_and_say_so() -> None:
    spec = architecture_for({"model_type": "camembert"})
    assert isinstance(spec, OptimumExport)
    assert not spec.registered
    assert spec.tasks == frozenset(Task)
    with pytest.raises(UnsupportedModelError, match="no model_type"):
        architecture_for({})


def test_t5_serves_embeddings_through_its_encoder_only() -> None:
    spec = architecture_for({"model_type": "t5"})
    assert spec.reference_class(Task.EMBED) == "T5EncoderModel"
    spec.check_task(Task.EMBED)
    with pytest.raises(UnsupportedModelError, match="t5 models can be exported for embed, not classify"):
        spec.check_task(Task.CLASSIFY)


@pytest.mark.parametrize("model_type", sorted(registered_architectures()))
def test_a_registered_model_type_gets_its_own_entry(model_type: str) -> None:
    spec = architecture_for({"model_type": model_type, "hidden_size": 8})
    assert (spec.model_type, spec.registered) == (model_type, True)
    assert spec == registered_architectures()[model_type]
    for task in Task:
        if task in spec.tasks:
            spec.check_task(task)
        else:
            with pytest.raises(UnsupportedModelError, match=f"{model_type} models can be exported for .*pass --task"):
                spec.check_task(task)


def _answers(model_types: list[str]) -> dict[str, tuple[object, ...]]:
    """What a lookup of each model_type answers, as far as an export can see."""
    answers = {}
    for model_type in model_types:
        spec = architecture_for({"model_type": model_type})
        tasks = sorted(t.value for t in spec.tasks)
        answers[model_type] = (type(spec), spec.model_type, tasks, spec.registered, spec.reference_class(Task.EMBED))
    return answers


def test_what_a_caller_does_with_an_entry_does_not_change_the_next_lookup() -> None:
    # Every export in a process shares the registry's entries: one caller editing the spec it
    # was given, or the listing, must not change what the next export of that model_type gets.
    saved = registered_architectures()
    expected = _answers(sorted(saved))
    originals = [(spec, {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}) for spec in saved.values()]
    try:
        registered_architectures().clear()
        for model_type in saved:
            spec = architecture_for({"model_type": model_type})
            for field, value in {"model_type": "roberta", "tasks": frozenset(), "registered": False}.items():
                with contextlib.suppress(FrozenInstanceError, AttributeError):
                    setattr(spec, field, value)
        assert _answers(sorted(saved)) == expected
    finally:  # a registry that did change must not fail the other tests too
        registered_architectures().update(saved)
        for spec, values in originals:
            for field, value in values.items():
                object.__setattr__(spec, field, value)
