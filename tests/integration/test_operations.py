"""Operating the embedded Triton: warmup at load, response cache, load shedding, per-text limits."""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

import numpy as np
import pytest

from encoder_triton.client import EncoderClient, InvalidInputError, OverloadedError

pytestmark = pytest.mark.triton


def _metric(server: Any, name: str, model: str) -> float:
    with urllib.request.urlopen(server.endpoints.metrics, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f'{name}{{model="{model}"'):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} for {model} not exported")


def test_warmup_ran_both_steps_at_load_before_any_request(ops_server: Any) -> None:
    stats = ops_server.load_stats
    # Two warmups (batch 1 and 8) on each step; the ensemble itself has seen nothing yet.
    assert stats["minilm_tokenizer"] == (9, 2)
    assert stats["minilm_encoder"] == (9, 2)
    assert stats["strict_encoder"] == (0, 0)


def test_repeated_request_is_served_from_the_cache(ops_server: Any) -> None:
    with EncoderClient(ops_server.endpoints.grpc) as client:
        hits_before = _metric(ops_server, "nv_cache_num_hits_per_model", "minilm")
        first = client.embed(["a request worth caching"], model="minilm").vectors
        second = client.embed(["a request worth caching"], model="minilm").vectors
    np.testing.assert_array_equal(first, second)
    assert _metric(ops_server, "nv_cache_num_hits_per_model", "minilm") == hits_before + 1


def test_overload_is_shed_at_once_and_admitted_requests_succeed(ops_server: Any) -> None:
    outcomes: list[str] = []
    reject_seconds: list[float] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        # Unique texts: the response cache must not answer for the model.
        long_texts = [f"overload request {index}.{row} " + "tokens " * 200 for row in range(16)]
        with EncoderClient(ops_server.endpoints.grpc) as client:
            started = time.perf_counter()
            try:
                result = client.embed(long_texts, model="minilm")
                outcome = "ok" if result.vectors.shape == (16, 384) else "wrong shape"
            except OverloadedError as exc:
                outcome = "shed" if exc.retryable else "not retryable"
                reject_seconds.append(time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 - any other outcome fails the test below
                outcome = repr(exc)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert set(outcomes) <= {"ok", "shed"}, outcomes
    assert outcomes.count("ok") >= 1 and outcomes.count("shed") >= 1
    assert max(reject_seconds) < 2.0, "rejections must be immediate, not after queueing"
    # Load gone: the server answers normally again.
    with EncoderClient(ops_server.endpoints.grpc) as client:
        for _ in range(5):
            assert client.embed(["recovered"], model="minilm").vectors.shape == (1, 384)


def test_per_text_limits_are_clear_invalid_argument_errors(ops_server: Any) -> None:
    with EncoderClient(ops_server.endpoints.http, protocol="http") as client:
        with pytest.raises(InvalidInputError, match=r"text 1 has 2,001 characters, over this model's limit of 2,000"):
            client.embed(["fine", "x" * 2001], model="minilm")
        with pytest.raises(InvalidInputError, match=r"text 0 has \d+ tokens, over this model's limit of 256"):
            client.embed(["word " * 300], model="strict")
        assert client.embed(["word " * 100], model="strict").vectors.shape == (1, 384)


def test_dashboard_cache_metrics_exist_once_a_model_caches(ops_server: Any, dashboard_metric_names: set[str]) -> None:
    with urllib.request.urlopen(ops_server.endpoints.metrics, timeout=5) as response:
        exported = response.read().decode()
    assert {m for m in dashboard_metric_names if f"\n{m}{{" not in exported} == set()
