"""The gateway's own Prometheus metrics (Triton exports the models' own on its metrics port).

Requests by route and status, their latency, texts received, and each upstream Triton's state,
read from the pool when Prometheus scrapes:

    gateway_upstream_up{upstream}                 1 while it takes traffic, 0 while ejected
    gateway_upstream_ejections_total{upstream}    times it was ejected
    gateway_upstream_failovers_total{upstream}    requests that failed on it and went to another
    gateway_upstream_in_flight{upstream}          requests on it now

Example:
    >>> metrics = GatewayMetrics()
    >>> metrics.texts.labels("/classify").inc(2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from encoder_triton.gateway.upstreams import UpstreamStatus


class UpstreamCollector(Collector):
    """Each upstream's state, as the pool reports it at scrape time."""

    def __init__(self, statuses: Callable[[], list[UpstreamStatus]]) -> None:
        self.statuses = statuses

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("gateway_upstream_up", "1 while the upstream takes traffic", labels=["upstream"])
        ejections = CounterMetricFamily(
            "gateway_upstream_ejections", "Times the upstream was ejected", labels=["upstream"]
        )
        failovers = CounterMetricFamily(
            "gateway_upstream_failovers",
            "Requests that failed on the upstream and went to another",
            labels=["upstream"],
        )
        in_flight = GaugeMetricFamily("gateway_upstream_in_flight", "Requests on the upstream now", labels=["upstream"])
        for status in self.statuses():
            up.add_metric([status.address], 1.0 if status.up else 0.0)
            ejections.add_metric([status.address], status.ejections)
            failovers.add_metric([status.address], status.failovers)
            in_flight.add_metric([status.address], status.in_flight)
        yield from (up, ejections, failovers, in_flight)


class GatewayMetrics:
    """Requests by route and status, their latency, texts received, upstreams, in one registry."""

    def __init__(self, upstreams: Callable[[], list[UpstreamStatus]] = list) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests", "Gateway requests by route and status", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "gateway_request_seconds", "Gateway request latency", ["route"], registry=self.registry
        )
        self.texts = Counter("gateway_texts", "Texts received by route", ["route"], registry=self.registry)
        self.registry.register(UpstreamCollector(upstreams))
