"""WebhookQueue: which calls a change causes, and the bound on how many wait on disk.

The queue is a table in the store (written with the change that causes each
call); this object keeps its depth in memory so that planning a call costs
no query. `plan` reserves room synchronously (no await between the check and
the reservation); the write that stores the change runs inside `storing`,
which counts the rows on disk when it returns and gives their room back
whatever it raises (a crash included), and a change that never reaches the
store gives it back (`release`); a delivered or dropped call frees it
(`taken`). A full queue drops new calls, counted in `dropped` and told in
one log line per spell.

The count on disk is corrected from the store now and then (the delivery
worker calls `recount_mark` and `recounted`): a count taken while no write
that changes it was in flight, and none ended meanwhile, is exact, so
whatever slipped (a write cut short by cancellation after it committed)
does not stay.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import msgspec
import trio

from ..ids import now_ms
from ..store.base import WebhookRow
from .events import EVENTS, encode

log = logging.getLogger("hubbub.webhooks")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """What the operator chose to be told, and how much may wait."""

    events: frozenset[str] = frozenset(EVENTS)
    queue_max: int = 100_000  # calls waiting on disk at most; more are dropped (and counted)
    preview_chars: int | None = 100  # None: offlinePush carries no preview


class WebhookQueue:
    """The calls to plan for each change, within the queue's bound (see the module docstring)."""

    def __init__(self, settings: WebhookSettings, depth: int = 0) -> None:
        self.settings = settings
        self.on_disk = depth  # rows in the store, waiting or set aside, as last counted and kept since
        self.reserved = 0  # rows planned and not yet stored or given back
        self.dropped: dict[str, int] = dict.fromkeys(EVENTS, 0)
        self._full = False
        self._queued = trio.Event()  # set when stored calls wait for the worker
        self._writes = 0  # store writes in flight that change how many rows are on disk
        self._changes = 0  # bumped at the end of each such write: a recount applies only if none ended during it

    @property
    def depth(self) -> int:
        """Rows on disk plus rows planned and not yet stored: what the bound counts."""
        return self.on_disk + self.reserved

    def wants(self, event: str) -> bool:
        """Whether the operator asked for `event`."""
        return event in self.settings.events

    def plan(self, account: str, event: str, payload: msgspec.Struct) -> list[WebhookRow]:
        """The row of one call (none when the event is not wanted or the queue is full); reserves its room."""
        if event not in self.settings.events:
            return []
        if self.depth >= self.settings.queue_max:
            self.dropped[event] += 1
            if not self._full:  # once per spell of a full queue, not once per call
                log.warning("webhook queue full (%d calls): new calls are dropped until it drains", self.depth)
                self._full = True
            return []
        self.reserved += 1
        return [WebhookRow(f"d{secrets.token_hex(12)}", account, event, encode(payload), now_ms())]

    @contextmanager
    def storing(self, rows: Sequence[WebhookRow]) -> Iterator[None]:
        """Around the store write that queues planned `rows` with their change.

        If the write returns, the rows are on disk and the worker wakes; if
        it raises (nothing stored, or a crash), their room is given back.
        """
        self._writes += 1
        try:
            yield
        except BaseException:
            self.release(len(rows))
            raise
        else:
            self.reserved = max(0, self.reserved - len(rows))
            self.on_disk += len(rows)
            if rows:
                self._queued.set()
        finally:
            self._writes -= 1
            self._changes += 1

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Around any other store write that removes rows (a delivery, an operator's drop); `taken` counts them."""
        self._writes += 1
        try:
            yield
        finally:
            self._writes -= 1
            self._changes += 1

    def release(self, count: int) -> None:
        """Planned calls whose change was not stored give their room back."""
        self.reserved = max(0, self.reserved - count)
        self._room_again()

    def taken(self, count: int = 1) -> None:
        """Calls left the disk queue (delivered or dropped by an operator)."""
        self.on_disk = max(0, self.on_disk - count)
        self._room_again()

    def wake(self) -> None:
        """Calls became due without a new row (an operator's retry): wake the worker."""
        self._queued.set()

    def recount_mark(self) -> int | None:
        """Before counting the rows in the store: a mark for `recounted`, or None while a write is in flight."""
        return None if self._writes else self._changes

    def recounted(self, count: int, mark: int) -> None:
        """The store held `count` rows, counted since `mark` was taken: correct `on_disk` unless a write came between."""
        if self._writes or mark != self._changes:
            return  # a write ended or began meanwhile: the count may be off by it; the next recount will do
        if count != self.on_disk:
            # info, not warning: on a shared store other servers' calls come and go too
            log.info("webhook queue depth corrected from %d to %d calls (the store's count)", self.on_disk, count)
            self.on_disk = count
            self._room_again()

    def _room_again(self) -> None:
        if self._full and self.depth < self.settings.queue_max:
            log.info("webhook queue has room again (%d calls)", self.depth)
            self._full = False

    async def wait_stored(self) -> None:
        """Until calls were stored since the last wait; the worker's wake-up."""
        await self._queued.wait()
        self._queued = trio.Event()

    @property
    def full(self) -> bool:
        return self._full
