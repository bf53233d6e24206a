"""The Grafana dashboard queries metrics the embedded Triton really exports."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.triton


def test_dashboard_metrics_exist_on_a_live_server(minilm_server: Any, dashboard_metric_names: set[str]) -> None:
    from encoder_triton.client import EncoderClient

    with EncoderClient(minilm_server.endpoints.grpc) as client:
        client.embed(["populate the counters"], model="minilm")
    with urllib.request.urlopen(minilm_server.endpoints.metrics, timeout=5) as response:
        exported = response.read().decode()
    # Response-cache families appear only once a model enables the cache.
    missing = {m for m in dashboard_metric_names if not m.startswith("nv_cache") and f"\n{m}{{" not in exported}
    assert missing == set()
