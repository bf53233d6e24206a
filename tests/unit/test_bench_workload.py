"""What one benchmark request sends, for each task, through any client with the task method."""

from __future__ import annotations

from typing import Any

import pytest

from encoder_triton.bench.workload import Workload, build_workload


class RecordingClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def embed(self, texts: list[str], *, model: str) -> None:
        self.calls.append(("embed", (texts,), {"model": model}))

    def classify(self, texts: list[str], *, model: str, top_k: int | None = None) -> None:
        self.calls.append(("classify", (texts,), {"model": model, "top_k": top_k}))

    def rerank(self, query: str, documents: list[str], *, model: str, top_k: int | None = None) -> None:
        self.calls.append(("rerank", (query, documents), {"model": model, "top_k": top_k}))


class EmbedOnlyClient:
    def embed(self, texts: list[str], *, model: str) -> None:
        pass


def test_batches_walk_the_pool_and_wrap() -> None:
    workload = Workload("embed", model="m", batch_size=3, texts=["a", "b", "c", "d"])
    assert workload.batch(0) == ["a", "b", "c"]
    assert workload.batch(3) == ["d", "a", "b"]
    assert workload.batch(6) == ["c", "d", "a"]


@pytest.mark.parametrize("task", ["embed", "classify", "rerank"])
def test_each_task_calls_its_client_method(task: str) -> None:
    workload = build_workload(task, model="m", batch_size=4, pool_size=64, top_k=2)
    client = RecordingClient()
    assert workload.call(client, cursor=8) == 4
    method, args, kwargs = client.calls[0]
    assert method == task and kwargs["model"] == "m"
    texts = args[-1]
    assert texts == workload.batch(8) and all(isinstance(t, str) and t for t in texts)
    if task != "embed":
        assert kwargs["top_k"] == 2
    if task == "rerank":
        assert isinstance(args[0], str) and args[0]


@pytest.mark.parametrize("task", ["classify", "rerank"])
def test_a_client_without_the_task_method_is_refused_before_the_run(task: str) -> None:
    workload = build_workload(task, model="m", batch_size=1, pool_size=8)
    with pytest.raises(NotImplementedError, match=f"no {task}"):
        workload.check_client(EmbedOnlyClient())
    build_workload("embed", model="m", batch_size=1, pool_size=8).check_client(EmbedOnlyClient())


def test_invalid_workloads_say_why() -> None:
    with pytest.raises(ValueError, match="task must be one of"):
        Workload("translate", model="m", batch_size=1, texts=["a"])
    with pytest.raises(ValueError, match="fewer than one batch"):
        Workload("embed", model="m", batch_size=5, texts=["a"])
    with pytest.raises(ValueError, match="needs queries"):
        Workload("rerank", model="m", batch_size=1, texts=["a"])


def test_describe_reports_the_payload() -> None:
    described = build_workload("embed", model="m", batch_size=2, pool_size=100, seed=3).describe()
    assert described["pool_size"] == 100 and described["seed"] == 3 and described["corpus"] == "lee"
    assert described["words_per_text"]["p50"] > 0


def test_gateway_requests_carry_the_same_payloads_as_json() -> None:
    embed = Workload("embed", model="m", batch_size=2, texts=["a", "b", "c"])
    assert embed.gateway_request(1) == ("/v1/embeddings", {"model": "m", "input": ["b", "c"]})
    classify = Workload("classify", model="m", batch_size=1, texts=["a"], top_k=3)
    assert classify.gateway_request(0) == ("/classify", {"model": "m", "input": ["a"], "top_k": 3})
    rerank = Workload("rerank", model="r", batch_size=2, texts=["d1", "d2"], queries=["q0", "q1"], top_k=1)
    assert rerank.gateway_request(2) == (
        "/rerank",
        {"model": "r", "query": "q1", "documents": ["d1", "d2"], "top_n": 1},
    )
    assert Workload.answered_rows("/rerank", {"results": [{}]}) == 1
    assert Workload.answered_rows("/v1/embeddings", {"data": [{}, {}]}) == 2
