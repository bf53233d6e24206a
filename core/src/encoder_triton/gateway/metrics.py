"""The gateway's own Prometheus metrics (Triton exports the models' own on its metrics port).

Example:
    >>> metrics = GatewayMetrics()
    >>> metrics.texts.labels("/classify").inc(2)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class GatewayMetrics:
    """Requests by route and status, their latency, and texts received, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests", "Gateway requests by route and status", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "gateway_request_seconds", "Gateway request latency", ["route"], registry=self.registry
        )
        self.texts = Counter("gateway_texts", "Texts received by route", ["route"], registry=self.registry)
