"""Prometheus metrics of one gateway (its own registry, so tests can run many).

Besides hubbub's own series: the standard process_* (CPU, memory, open
files) and python_* (platform, GC) collectors, and hubbub_build_info. No
`_created` series: they double the series count and no dashboard reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import platform
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide in prometheus_client; set before any metric exists


class _Live(Collector):
    """Gauges read at scrape time from the running gateway."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        values = self._read()
        yield GaugeMetricFamily("hubbub_connections_open", "open WebSocket connections", value=values["connections"])
        yield GaugeMetricFamily("hubbub_devices_online", "logged-in devices", value=values["devices"])
        actors = GaugeMetricFamily("hubbub_actors", "live actors by kind", labels=["kind"])
        for kind, count in values["actors"].items():
            actors.add_metric([kind], count)
        yield actors
        taken = CounterMetricFamily(
            "hubbub_actors_taken_over", "actors stopped because another node claimed them, by kind", labels=["kind"]
        )
        for kind, count in values["actors_taken_over"].items():
            taken.add_metric([kind], count)
        yield taken
        yield GaugeMetricFamily("hubbub_actor_inbox_queued", "messages waiting in actor inboxes", value=values["queued"])
        yield GaugeMetricFamily("hubbub_store_queue", "writes waiting for the store writer", value=values["store_queue"])
        writer = values["store_writer"]
        if writer:
            for unit in ("batches", "jobs"):
                counter = CounterMetricFamily(f"hubbub_store_{unit}", f"store writer {unit} by outcome", labels=["outcome"])
                for outcome in ("committed", "failed"):
                    counter.add_metric([outcome], writer[f"{unit}_{outcome}"])
                yield counter
            yield CounterMetricFamily(
                "hubbub_store_jobs_fenced", "writes refused because their actor's epoch was stale", value=writer["jobs_fenced"]
            )
            yield CounterMetricFamily(
                "hubbub_store_jobs_bulk", "writes applied together with their neighbours (one statement per table)", value=writer["jobs_bulk"]
            )
            yield GaugeMetricFamily("hubbub_store_largest_batch", "most writes committed in one transaction", value=writer["largest_batch"])
        kicks = CounterMetricFamily("hubbub_account_events", "account counters (logins, kicks by reason)", labels=["what"])
        for what, count in values["account_stats"].items():
            kicks.add_metric([what], count)
        yield kicks


def build_info() -> dict[str, str]:
    """Labels of hubbub_build_info: hubbub's version and the Python running it."""
    try:
        version = metadata.version("hubbub")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"version": version, "python": platform.python_version(), "implementation": platform.python_implementation()}


class Metrics:
    """Counters and histograms the gateway updates as it serves."""

    def __init__(self, read_live: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info("hubbub_build", "the running build", registry=self.registry).info(build_info())
        self.connections = Counter("hubbub_connections_accepted", "WebSocket connections accepted", registry=self.registry)
        self.refused = Counter("hubbub_connections_refused", "WebSocket upgrades refused with 503", ["reason"], registry=self.registry)
        self.logins = Counter("hubbub_logins", "successful logins", registry=self.registry)
        self.frames_in = Counter("hubbub_frames_in", "frames received", registry=self.registry)
        self.frames_out = Counter("hubbub_frames_out", "frames sent", registry=self.registry)
        self.slow_closes = Counter(
            "hubbub_slow_consumer_closes", "devices closed (1013) as slow consumers, by the bound they reached", ["bound"], registry=self.registry
        )
        self.errors = Counter("hubbub_request_errors", "error replies by code", ["code"], registry=self.registry)
        self.latency = Histogram(
            "hubbub_request_seconds",
            "request handling time by op",
            ["op"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.delivery = Histogram(
            "hubbub_message_delivery_seconds",
            "from a message's send to its commit in a receiving account (its devices get it right after)",
            ["conversation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self._delivery_by_type = {0: self.delivery.labels("peer"), 2: self.delivery.labels("group")}
        self.registry.register(_Live(read_live))
        self._known_ops: set[str] = set()

    def observe_request(self, op: object, seconds: float) -> None:
        # unknown ops are folded into one label so a client cannot grow the series
        label = op if isinstance(op, str) and op in self._known_ops else "other"
        self.latency.labels(label).observe(seconds)

    def observe_delivery(self, conversation_type: int, seconds: float) -> None:
        histogram = self._delivery_by_type.get(conversation_type)
        if histogram is not None:
            histogram.observe(max(0.0, seconds))  # wall clocks may step back

    def know_ops(self, ops: Iterable[str]) -> None:
        self._known_ops.update(ops)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
