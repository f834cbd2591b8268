"""The delivery worker: sends queued notifications to the backend, in order per account, with retries.

One task of the server's nursery. It reads the oldest waiting call of each
account (`WebhookStore.webhook_heads`) and posts those that are due, at most
`max_in_flight` at once and one per account, so each account's calls arrive
in the order they were queued. A 2xx answer removes the call; anything else
(an error status, a refused connection, a timeout) schedules a retry with
jittered exponential back-off, with the same delivery ID, until the retry
window (24 h) has passed: then the call is set aside, out of the way of the
account's later calls, for an operator to retry or drop (admin API).

Now and then (RECOUNT_S) it checks the queue's depth against the store's
count, so the bound and its metric cannot drift for good.

Nothing here runs on a sender's path: the actors only store rows and wake
this worker. Calls cut short by shutdown stay queued and go out after the
next start.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import trio

from actors.errors import StorageUnavailable
from actors.hooks import WebhookQueue
from actors.store.base import QueuedWebhook, Store

from .metrics import WebhookMetrics
from .signing import sign

log = logging.getLogger("hubbub.webhooks")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 600.0  # retries of a long outage come every 5-10 minutes
IDLE_POLL_S = 60.0  # a look at the queue even when nothing woke the worker (another process's rows)
STORE_RETRY_S = 5.0  # after the store could not be read or written
RECOUNT_S = 30.0  # the queue's depth is checked against the store's count this often at most


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how the calls go."""

    url: str
    secret: str
    timeout_s: float = 5.0
    max_in_flight: int = 8
    retry_s: float = 24 * 3600.0


class Clock:
    """Wall-clock ms as trio's clock advances: retry times are stored as wall time, waits use trio's clock."""

    def __init__(self) -> None:
        self._wall_ms = time.time() * 1000
        self._start = trio.current_time()

    def now_ms(self) -> int:
        return int(self._wall_ms + (trio.current_time() - self._start) * 1000)


def backoff_s(attempts: int) -> float:
    """Seconds before retry number `attempts` (1, 2, ...): doubling from 1 s up to 10 min, each between half and all of it."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0 ** min(attempts - 1, 30))
    jitter: float = random.uniform(0.5, 1.0)  # spreads the retries of many calls that failed together
    return ceiling * jitter


def headers(event: str, delivery_id: str, secret: str, body: bytes) -> dict[str, str]:
    """The headers of one call (PROTOCOL.md §17)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "hubbub-webhooks",
        "X-Hubbub-Event": event,
        "X-Hubbub-Delivery": delivery_id,
        "X-Hubbub-Signature": sign(secret, body),
    }


async def post(client: httpx.AsyncClient, url: str, timeout_s: float, event: str, delivery_id: str, secret: str, body: bytes) -> httpx.Response:
    """POST one call; raises httpx.HTTPError or trio.TooSlowError (after `timeout_s`, connect to answer)."""
    with trio.fail_after(timeout_s):
        return await client.post(url, content=body, headers=headers(event, delivery_id, secret, body))


class WebhookDelivery:
    """The worker (see the module docstring); `run` is its task."""

    def __init__(self, store: Store, queue: WebhookQueue, endpoint: Endpoint, metrics: WebhookMetrics) -> None:
        self.store = store
        self.queue = queue
        self.endpoint = endpoint
        self.metrics = metrics
        self.clock = Clock()
        self.in_flight: set[str] = set()  # accounts with a call open: their next call waits
        # Calls that finished while the heads were being read: what was read of them is stale
        # (a delivered call would go out twice), so they wait for the next read.
        self._finished: set[int] = set()
        self._slot_freed = trio.Event()
        self._next_recount = trio.current_time() + RECOUNT_S

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver until cancelled; open calls are cut short and stay queued."""
        limits = httpx.Limits(max_connections=self.endpoint.max_in_flight, max_keepalive_connections=self.endpoint.max_in_flight)
        timeout = httpx.Timeout(self.endpoint.timeout_s)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client, trio.open_nursery() as calls:
            task_status.started()
            while True:
                await self._recount_now_and_then()
                wait_s = await self._start_due(client, calls)
                with trio.move_on_after(wait_s):
                    async with trio.open_nursery() as waiting:  # whichever comes first ends the wait
                        waiting.start_soon(_then_cancel, self.queue.wait_stored, waiting.cancel_scope)
                        waiting.start_soon(_then_cancel, self._wait_slot, waiting.cancel_scope)

    async def _recount_now_and_then(self) -> None:
        """Every RECOUNT_S at most: correct the queue's depth from the store's count (see WebhookQueue.recounted)."""
        if trio.current_time() < self._next_recount:
            return
        mark = self.queue.recount_mark()
        if mark is None:
            return  # a write that changes the count is in flight: next time round
        try:
            waiting, aside = await self.store.webhook_counts()
        except StorageUnavailable:
            return
        self._next_recount = trio.current_time() + RECOUNT_S
        self.queue.recounted(waiting + aside, mark)

    async def _wait_slot(self) -> None:
        await self._slot_freed.wait()
        self._slot_freed = trio.Event()

    async def _start_due(self, client: httpx.AsyncClient, calls: trio.Nursery) -> float:
        """Start every due call there is room for; seconds until the next is due (or the idle poll)."""
        room = self.endpoint.max_in_flight - len(self.in_flight)
        if room <= 0:
            return IDLE_POLL_S
        self._finished = set()
        try:
            heads = await self.store.webhook_heads(room + len(self.in_flight))
        except StorageUnavailable as exc:
            log.warning("webhook queue unreadable, retrying in %.0f s: %s", STORE_RETRY_S, exc)
            return STORE_RETRY_S
        now = self.clock.now_ms()
        wait_s = IDLE_POLL_S
        for head in heads:
            account = head.row.account
            if account in self.in_flight or head.queue_id in self._finished:
                continue
            if head.next_attempt > now:
                wait_s = min(wait_s, (head.next_attempt - now) / 1000)
                continue
            if room <= 0:
                break
            self.in_flight.add(account)
            room -= 1
            calls.start_soon(self._deliver, client, head)
        return wait_s

    async def _deliver(self, client: httpx.AsyncClient, head: QueuedWebhook) -> None:
        row = head.row
        try:
            error = await self._attempt(client, head)
            if error is None:
                with self.queue.changing():
                    await self.store.webhook_delivered(head.queue_id)
                    self.queue.taken()
                self.metrics.deliveries.labels(row.event, "delivered").inc()
                return
            attempts = head.attempts + 1
            now = self.clock.now_ms()
            if now - head.retry_from >= self.endpoint.retry_s * 1000:
                await self.store.webhook_set_aside(head.queue_id, attempts, error)
                self.metrics.deliveries.labels(row.event, "set_aside").inc()
                log.warning(
                    "webhook delivery=%s event=%s account=%s set aside after %d attempts: %s",
                    row.delivery_id, row.event, row.account, attempts, error,
                )
                return
            delay_s = backoff_s(attempts)
            await self.store.webhook_retry_later(head.queue_id, attempts, now + int(delay_s * 1000), error)
            self.metrics.deliveries.labels(row.event, "retry").inc()
            if attempts == 1:  # one line per call that starts failing, not one per retry
                log.info("webhook delivery=%s event=%s account=%s failed, retrying: %s", row.delivery_id, row.event, row.account, error)
        except StorageUnavailable as exc:
            # The call stays as the store has it: it is tried again (same delivery ID) when next due.
            log.warning("webhook delivery=%s: the queue could not be updated: %s", row.delivery_id, exc)
        finally:
            self._finished.add(head.queue_id)
            self.in_flight.discard(row.account)
            self._slot_freed.set()

    async def _attempt(self, client: httpx.AsyncClient, head: QueuedWebhook) -> str | None:
        """POST the call once: None if the backend took it (2xx), else what went wrong."""
        row, endpoint = head.row, self.endpoint
        try:
            response = await post(client, endpoint.url, endpoint.timeout_s, row.event, row.delivery_id, endpoint.secret, row.body)
        except trio.TooSlowError:
            return f"no answer within {endpoint.timeout_s:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


async def _then_cancel(wait: Callable[[], Awaitable[None]], scope: trio.CancelScope) -> None:
    await wait()
    scope.cancel()
