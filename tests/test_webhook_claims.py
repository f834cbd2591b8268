"""Delivery workers of several nodes on one store: each call made once, a crashed worker's calls taken over when its claims expire.

Each worker is the real `WebhookDelivery` with a store of its own (its own
pool, as a node has) on one PostgreSQL database, or on SQLite for a restart
of the one process. The receiver is a real HTTP server on loopback. Claim
expiry runs on the autojump clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
import trio.testing
from prometheus_client import CollectorRegistry

from actors.hooks import WebhookQueue, WebhookSettings
from actors.ids import now_ms
from actors.store.base import AccountWrite, Store, WebhookRow
from actors.store.postgres import open_postgres_store
from actors.store.sqlite import open_sqlite_store
from gateway.webhooks.delivery import Endpoint, WebhookDelivery
from gateway.webhooks.metrics import WebhookMetrics

from .webhook_support import HOOK_SECRET, Receiver, serve_receiver

CLAIM_S = 30.0
ACCOUNTS = [f"u{n}" for n in range(6)]


def _endpoint(receiver: Receiver) -> Endpoint:
    return Endpoint(receiver.url, HOOK_SECRET, timeout_s=5.0, max_in_flight=4, claim_s=CLAIM_S)


@asynccontextmanager
async def _worker(store: Store, receiver: Receiver, node: str) -> AsyncIterator[CollectorRegistry]:
    """The delivery worker of `node` (its metrics), running until the block ends (cancelled there, as by a crash: its calls stay claimed)."""
    queue = WebhookQueue(WebhookSettings())
    registry = CollectorRegistry()
    metrics = WebhookMetrics(registry, depth=lambda: queue.on_disk, dropped=lambda: 0)
    worker = WebhookDelivery(store, queue, _endpoint(receiver), metrics, node)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        yield registry
        nursery.cancel_scope.cancel()


async def _queue_calls(store: Store, per_account: int) -> dict[str, list[str]]:
    """`per_account` calls for each account; their delivery IDs by account, in queue order."""
    queued: dict[str, list[str]] = {}
    for account in ACCOUNTS:
        rows = [WebhookRow(f"d-{account}-{n}", account, "messageSent", b'{"n":%d}' % n, now_ms()) for n in range(per_account)]
        await store.commit(AccountWrite(user_id=account, webhooks=rows))
        queued[account] = [r.delivery_id for r in rows]
    return queued


def _accepted_by_account(receiver: Receiver) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    for call in receiver.accepted:
        order.setdefault(call.delivery_id.split("-")[1], []).append(call.delivery_id)
    return order


def _made(registry: CollectorRegistry) -> float:
    """The calls a worker made that the backend took, by its own count."""
    return registry.get_sample_value("hubbub_webhook_deliveries_total", {"event": "messageSent", "outcome": "delivered"}) or 0.0


async def test_two_nodes_workers_make_each_call_once_in_order_per_account(
    nursery: trio.Nursery, postgres_url: str, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(delay_s=0.5)  # calls stay open a while: both workers claim while the other holds calls
    await nursery.start(serve_receiver, receiver)
    with trio.fail_after(600):
        async with open_postgres_store(postgres_url) as store_1, open_postgres_store(postgres_url) as store_2:
            queued = await _queue_calls(store_1, 5)
            async with _worker(store_1, receiver, "n1") as n1, _worker(store_2, receiver, "n2") as n2:
                await receiver.until(lambda r: len(r.accepted) == 5 * len(ACCOUNTS))
                await trio.sleep(2 * CLAIM_S)  # long enough for either to make anything again
            assert await store_1.webhook_counts() == (0, 0)
    made = Counter(c.delivery_id for c in receiver.calls)
    assert len(made) == 5 * len(ACCOUNTS) and set(made.values()) == {1}, made.most_common(3)
    assert _accepted_by_account(receiver) == queued
    assert _made(n1) > 0 and _made(n2) > 0 and _made(n1) + _made(n2) == 5 * len(ACCOUNTS)


async def test_a_crashed_nodes_calls_go_out_from_another_once_its_claims_expire(
    nursery: trio.Nursery, postgres_url: str, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(hang=True, status=503)  # n1's calls never get an answer (nor would they be taken)
    await nursery.start(serve_receiver, receiver)
    with trio.fail_after(600):
        async with open_postgres_store(postgres_url) as store_1, open_postgres_store(postgres_url) as store_2:
            queued = await _queue_calls(store_1, 3)
            async with _worker(store_1, receiver, "n1"):
                await receiver.until(lambda r: len(r.calls) == 4)  # n1 holds four heads (its max in flight)
                crashed_at = trio.current_time()
            # n1 is gone, its four calls cut short and still claimed; n2 starts and may take only the rest at first
            receiver.hang, receiver.status = False, 200
            async with _worker(store_2, receiver, "n2"):
                held = {c.delivery_id for c in receiver.calls}
                await trio.sleep(CLAIM_S - 1 - (trio.current_time() - crashed_at))
                early = {c.delivery_id.split("-")[1] for c in receiver.accepted}
                assert early == set(ACCOUNTS) - {d.split("-")[1] for d in held}  # accounts n1 held wait behind their heads
                await receiver.until(lambda r: len(r.accepted) == 3 * len(ACCOUNTS))
                assert trio.current_time() - crashed_at >= CLAIM_S - 1
    assert _accepted_by_account(receiver) == queued  # each once, in order: n1's heads first, after the expiry
    assert len([c for c in receiver.calls if c.status != 200]) == 4  # n1's calls, cut short


async def test_a_restarted_process_takes_its_own_claims_back_at_once(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(hang=True, status=503)
    await nursery.start(serve_receiver, receiver)
    with trio.fail_after(600):
        async with open_sqlite_store(tmp_path) as store:
            queued = await _queue_calls(store, 2)
            async with _worker(store, receiver, "local"):
                await receiver.until(lambda r: len(r.calls) == 4)
        receiver.hang, receiver.status = False, 200
        async with open_sqlite_store(tmp_path) as store:  # the next start of the one process that owns the store
            started = trio.current_time()
            async with _worker(store, receiver, "local"):
                await receiver.until(lambda r: len(r.accepted) == 2 * len(ACCOUNTS))
                assert trio.current_time() - started < CLAIM_S / 2  # not waiting for the claims to expire
    assert _accepted_by_account(receiver) == queued
