"""The server's calls to the application backend (PROTOCOL.md §17): notifications and before-send.

`Callbacks` puts the parts together for one server: the queue's bound (the
actors plan rows against it), the delivery worker, the before-send client,
their metrics and admin routes. `Callbacks.run` is one task of the server's
nursery holding the worker and the client's connections.
"""

from __future__ import annotations

import trio
from prometheus_client import CollectorRegistry

from collections.abc import Sequence

from actors.account.devices import info_of
from actors.hooks import EVENTS, UserOffline, WebhookQueue, WebhookSettings
from actors.store.base import DeviceRecord, Store, WebhookRow

from ..config import Config
from .before_send import BeforeSend
from .delivery import Endpoint, WebhookDelivery
from .metrics import WebhookMetrics

__all__ = ["Callbacks", "parse_events"]


def parse_events(text: str) -> frozenset[str]:
    """'userOnline,messageSent' -> the set; raises ValueError naming an unknown event."""
    names = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(names - set(EVENTS))
    if unknown:
        raise ValueError(f"unknown webhook event {unknown[0]!r} (known: {', '.join(EVENTS)})")
    return names


class Callbacks:
    """Notifications and before-send of one server (see the module docstring)."""

    def __init__(self, config: Config, store: Store, depth: int, registry: CollectorRegistry) -> None:
        assert config.webhook_url is not None
        settings = WebhookSettings(
            events=parse_events(config.webhook_events),
            queue_max=config.webhook_queue_max,
            preview_chars=100 if config.push_preview else None,
        )
        self.queue = WebhookQueue(settings, depth)
        queue = self.queue
        self.metrics = WebhookMetrics(registry, depth=lambda: queue.on_disk, dropped=lambda: sum(queue.dropped.values()))
        endpoint = Endpoint(
            config.webhook_url, config.webhook_secret, config.webhook_timeout_s, config.webhook_max_in_flight, config.webhook_retry_s,
            config.webhook_claim_s,
        )
        self.delivery = WebhookDelivery(store, self.queue, endpoint, self.metrics, config.node)
        self.before_send: BeforeSend | None = None
        if config.before_send:
            self.before_send = BeforeSend(
                config.webhook_url, config.webhook_secret, config.before_send_timeout_s, config.before_send_fail == "closed", self.metrics
            )

    def restart_offline(self, devices: Sequence[tuple[str, DeviceRecord]], now_ms: int) -> list[WebhookRow]:
        """userOffline (reason 'restart') for each (user_id, device) still recorded online at start.

        Only a crash leaves a device so (a clean stop closes every session
        first), and the start clears them in the same transaction as these
        rows, so each is told once.
        """
        rows: list[WebhookRow] = []
        for user_id, record in devices:
            payload = UserOffline(user_id=user_id, device=info_of(record), reason="restart", time=now_ms)
            rows += self.queue.plan(user_id, "userOffline", payload)
        return rows

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the delivery worker and the before-send client until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.delivery.run)
            if self.before_send is not None:
                await nursery.start(self.before_send.run)
            task_status.started()

