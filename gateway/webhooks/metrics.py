"""Metrics of the calls to the application backend, on the gateway's registry."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WebhookMetrics:
    """Deliveries by event and outcome, the queue's depth and drops, the before-send latency."""

    def __init__(self, registry: CollectorRegistry, depth: Callable[[], float], dropped: Callable[[], float]) -> None:
        self.deliveries = Counter(
            "hubbub_webhook_deliveries",
            "notification calls by event and outcome (delivered, retry, set_aside)",
            ["event", "outcome"],
            registry=registry,
        )
        self.depth = Gauge("hubbub_webhook_queue_depth", "notification calls waiting on disk (or set aside)", registry=registry)
        self.depth.set_function(depth)
        self.dropped = Gauge(
            "hubbub_webhook_queue_dropped", "notification calls dropped because the queue was full (since start)", registry=registry
        )
        self.dropped.set_function(dropped)
        self.before_send = Histogram(
            "hubbub_before_send_seconds",
            "beforeSendMessage call time by outcome (allow, reject, modify, failed)",
            ["outcome"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
            registry=registry,
        )
