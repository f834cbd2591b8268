"""The delivery worker: sends queued notifications to the backend, in order per account, with retries.

One task of the server's nursery. It claims the oldest waiting call of each
account that is due (`WebhookStore.webhook_claim`) and posts it, at most
`max_in_flight` at once and one per account, so each account's calls arrive
in the order they were queued. The claim holds the call for this node for
`claim_s`: in a cluster each call is made by one node, not by every node
that reads the queue. A node that dies with calls claimed leaves them to
the others once its claims expire (each worker looks at the queue at least
every `claim_s`), and a node that starts again under the same name takes
its own back at once. A 2xx answer removes the call; anything else
(an error status, a refused connection, a timeout) schedules a retry with
jittered exponential back-off, with the same delivery ID, until the retry
window (24 h) has passed: then the call is set aside, out of the way of the
account's later calls, for an operator to retry or drop (admin API).

Now and then (RECOUNT_S) it checks the queue's depth against the store's
count, so the bound and its metric cannot drift for good.

Nothing here runs on a sender's path: the actors only store rows and wake
this worker. Calls cut short by shutdown stay queued (claimed) and go out
after the next start, or from another node once the claim expires.
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
from actors.store.base import QueuedWebhook, Store, WebhookHold, WebhookRow

from .metrics import WebhookMetrics
from .signing import sign

log = logging.getLogger("hubbub.webhooks")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 600.0  # retries of a long outage come every 5-10 minutes
IDLE_POLL_S = 60.0  # a look at the queue even when nothing woke the worker (another process's rows)
CONTENDED_S = 0.05  # due calls were there but none could be claimed (another node is claiming them): look again after this
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
    claim_s: float = 30.0  # a call is held for one node this long: more than timeout_s and the write of its outcome


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

    def __init__(self, store: Store, queue: WebhookQueue, endpoint: Endpoint, metrics: WebhookMetrics, node: str) -> None:
        self.store = store
        self.queue = queue
        self.endpoint = endpoint
        self.metrics = metrics
        self.node = node  # the claims' holder
        self.clock = Clock()
        self.in_flight: set[str] = set()  # accounts with a call open: their next call waits
        # Claimed calls of accounts whose previous call was still finishing when the claim came back
        # (its row had left the queue, its task not yet ended): started as soon as it ends.
        self.pending: dict[str, QueuedWebhook] = {}
        self._slot_freed = trio.Event()
        self._next_recount = trio.current_time() + RECOUNT_S

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver until cancelled; open calls are cut short and stay queued."""
        limits = httpx.Limits(max_connections=self.endpoint.max_in_flight, max_keepalive_connections=self.endpoint.max_in_flight)
        timeout = httpx.Timeout(self.endpoint.timeout_s)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client, trio.open_nursery() as calls:
            await self._release_left_claims()
            task_status.started()
            while True:
                await self._recount_now_and_then()
                wait_s = await self._start_due(client, calls)
                with trio.move_on_after(min(wait_s, self.endpoint.claim_s)):  # others' claims may lapse unseen: look that often
                    async with trio.open_nursery() as waiting:  # whichever comes first ends the wait
                        waiting.start_soon(_then_cancel, self.queue.wait_stored, waiting.cancel_scope)
                        waiting.start_soon(_then_cancel, self._wait_slot, waiting.cancel_scope)

    async def _release_left_claims(self) -> None:
        """Calls this node claimed before a crash: due again now (on an unshared store, every claim is this process's)."""
        holder = self.node if self.store.shared else None
        try:
            released = await self.store.webhook_release(holder, self.clock.now_ms())
        except StorageUnavailable as exc:
            log.warning("webhook claims of an earlier run not released (they expire within %.0f s): %s", self.endpoint.claim_s, exc)
            return
        if released:
            log.info("webhook calls claimed before a restart are due again: %d", released)

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
        """Claim and start every due call there is room for; seconds until one may be due again (or the idle poll)."""
        for account in [a for a in self.pending if a not in self.in_flight]:
            self._start(client, calls, self.pending.pop(account))
        room = self.endpoint.max_in_flight - len(self.in_flight) - len(self.pending)
        if room <= 0:
            return IDLE_POLL_S  # a finished call wakes the worker
        now = self.clock.now_ms()
        try:
            claims = await self.store.webhook_claim(self.node, room, now, now + int(self.endpoint.claim_s * 1000))
        except StorageUnavailable as exc:
            log.warning("webhook queue unreadable, retrying in %.0f s: %s", STORE_RETRY_S, exc)
            return STORE_RETRY_S
        for head in claims.calls:
            if head.row.account in self.in_flight:
                self.pending[head.row.account] = head
            else:
                self._start(client, calls, head)
        if claims.next_due is None:
            return IDLE_POLL_S
        if claims.calls or len(self.in_flight) + len(self.pending) >= self.endpoint.max_in_flight:
            return max(0.0, (claims.next_due - self.clock.now_ms()) / 1000)
        return max(CONTENDED_S, (claims.next_due - self.clock.now_ms()) / 1000)

    def _start(self, client: httpx.AsyncClient, calls: trio.Nursery, head: QueuedWebhook) -> None:
        self.in_flight.add(head.row.account)
        calls.start_soon(self._deliver, client, head)

    async def _deliver(self, client: httpx.AsyncClient, head: QueuedWebhook) -> None:
        row, hold = head.row, WebhookHold(self.node, head.next_attempt)  # a claimed call's next_attempt is its claim's expiry
        try:
            error = await self._attempt(client, head)
            if error is None:
                with self.queue.changing():
                    mine = await self.store.webhook_delivered(head.queue_id, hold)
                    if mine:
                        self.queue.taken()
                self.metrics.deliveries.labels(row.event, "delivered").inc()
                if not mine:
                    self._claim_lost(row, "delivered")
                return
            attempts = head.attempts + 1
            now = self.clock.now_ms()
            if now - head.retry_from >= self.endpoint.retry_s * 1000:
                if not await self.store.webhook_set_aside(head.queue_id, hold, attempts, error):
                    self._claim_lost(row, "set aside")
                    return
                self.metrics.deliveries.labels(row.event, "set_aside").inc()
                log.warning(
                    "webhook delivery=%s event=%s account=%s set aside after %d attempts: %s",
                    row.delivery_id, row.event, row.account, attempts, error,
                )
                return
            delay_s = backoff_s(attempts)
            if not await self.store.webhook_retry_later(head.queue_id, hold, attempts, now + int(delay_s * 1000), error):
                self._claim_lost(row, "failed")
                return
            self.metrics.deliveries.labels(row.event, "retry").inc()
            if attempts == 1:  # one line per call that starts failing, not one per retry
                log.info("webhook delivery=%s event=%s account=%s failed, retrying: %s", row.delivery_id, row.event, row.account, error)
        except StorageUnavailable as exc:
            # The call stays as the store has it: claimed until the claim expires, then tried again (same delivery ID).
            log.warning("webhook delivery=%s: the queue could not be updated: %s", row.delivery_id, exc)
        finally:
            self.in_flight.discard(row.account)
            self._slot_freed.set()

    def _claim_lost(self, row: WebhookRow, outcome: str) -> None:
        """The call's claim expired before its outcome was written, and another node (or a restart) took it."""
        log.warning(
            "webhook delivery=%s event=%s account=%s %s, but its claim (%.0f s) had lapsed: the call may be made again",
            row.delivery_id, row.event, row.account, outcome, self.endpoint.claim_s,
        )

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
