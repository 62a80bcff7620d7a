"""Prometheus metrics of one replica, in a registry of its own (several apps can live in one process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from api.consistency import LagProbe

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _ReadModelCollector:
    """Read at scrape time: consumer lag per topic, the indexer's counters, read-model sizes."""

    def __init__(self, container: Any, probe: LagProbe) -> None:
        self.container, self.probe = container, probe

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily("mm_consumer_lag_records", "Records of the log this replica has not applied",
                                labels=["topic"])
        for topic, n in self.probe.lag_by_topic().items():
            lag.add_metric([topic], n)
        yield lag
        indexer = getattr(self.container, "indexer", None)
        if indexer is not None:
            counters = indexer.loop.counters
            # skipped: changed nothing (a replayed record, an older version, or a `viewed` feedback event, which only
            # the log keeps)
            events = CounterMetricFamily("mm_indexer_events", "Records the indexer consumed, by outcome",
                                         labels=["outcome"])
            for outcome in ("applied", "skipped", "invalid", "dead_lettered"):
                events.add_metric([outcome], getattr(counters, outcome))
            yield events
        view = self.container.view
        sizes = GaugeMetricFamily("mm_read_model_entities", "Entities in the read model", labels=["kind"])
        for kind, store in (("projects", view.projects), ("investors", view.investors), ("intros", view.intros),
                            ("api_keys", view.api_keys)):
            sizes.add_metric([kind], len(store))
        yield sizes


class ApiMetrics:
    def __init__(self, container: Any, probe: LagProbe) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("mm_http_request_duration_seconds", "HTTP request latency by route and status",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_ReadModelCollector(container, probe))  # type: ignore[arg-type]

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route, str(status)).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
