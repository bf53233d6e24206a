"""The architecture registry, and the meta-test: every registered architecture and task has a
tiny model that tests/integration/test_architectures_serving.py exports, serves and compares."""

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


def test_specs_are_immutable() -> None:
    with pytest.raises(FrozenInstanceError):
        architecture_for({"model_type": "bert"}).model_type = "roberta"  # type: ignore[misc]
