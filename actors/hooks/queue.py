"""WebhookQueue: which calls a change causes, and the bound on how many wait on disk.

The queue is a table in the store (written with the change that causes each
call); this object keeps its depth in memory so that planning a call costs
no query. `plan` reserves room synchronously (no await between the check and
the reservation); a change that is not stored gives it back (`release`), and
a delivered or dropped call frees it (`taken`). A full queue drops new
calls, counted in `dropped` and told in one log line per spell.
"""

from __future__ import annotations

import logging
import secrets
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
        self.depth = depth  # rows on disk (waiting or set aside) plus rows planned and not yet stored
        self.dropped: dict[str, int] = dict.fromkeys(EVENTS, 0)
        self._full = False
        self._queued = trio.Event()  # set when stored calls wait for the worker

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
        self.depth += 1
        return [WebhookRow(f"d{secrets.token_hex(12)}", account, event, encode(payload), now_ms())]

    def stored(self) -> None:
        """Calls were committed: wake the delivery worker."""
        self._queued.set()

    def release(self, count: int) -> None:
        """Planned calls whose change was not stored give their room back."""
        self._free(count)

    def taken(self, count: int = 1) -> None:
        """Calls left the disk queue (delivered or dropped by an operator)."""
        self._free(count)

    def _free(self, count: int) -> None:
        self.depth = max(0, self.depth - count)
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
