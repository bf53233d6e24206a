"""`serve --models a,b` loads only those ensembles and their steps (Triton's explicit mode)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from encoder_triton.errors import EmbeddedTritonError
from encoder_triton.server.embedded import EmbeddedTriton

pytestmark = pytest.mark.triton


def test_only_the_named_models_load(minilm_tasks_repo: dict[str, Any], start_triton: Callable[..., Any]) -> None:
    server = start_triton(minilm_tasks_repo["repo"], models=["bbc_news"])
    states = server.model_states()  # Triton's repository index (behind the admin key)
    ready = sorted(name for name, state in states.items() if state["state"] == "READY")
    assert ready == ["bbc_news", "bbc_news_encoder", "bbc_news_tokenizer"]
    assert "reranker" in states  # in the repository, not loaded
    load = requests.post(f"http://{server.endpoints.http}/v2/repository/models/reranker/load", timeout=10)
    assert load.status_code in (401, 403)  # loading more still needs the admin key


def test_an_unknown_model_fails_before_triton_starts(minilm_tasks_repo: dict[str, Any]) -> None:
    with pytest.raises(EmbeddedTritonError, match=r"\['nope'\] are not in .*bbc_news"):
        EmbeddedTriton(minilm_tasks_repo["repo"], models=["nope"]).start()
