"""One task for every session's deadlines: when to ping, when to warn that a token expires, when it expired.

A task per session that sleeps until its next deadline holds an await
stack, a cancel scope and a context for the connection's whole life. Here
a session is an entry in one heap (`SessionTimers.arm`) and one task per
gateway calls the session's `on_timer` when the entry comes due. `on_timer`
never waits: it stops the session, queues a warning if the queue has room,
or starts the short task that sends a ping and waits for its pong; then it
arms the session's next deadline. An entry made stale by an earlier one is
skipped by the session when it comes due.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from typing import Protocol

import trio

log = logging.getLogger("hubbub.timers")


class Timed(Protocol):
    """What the timers call when an entry comes due."""

    def on_timer(self, now: float) -> None: ...


class SessionTimers:
    """A heap of (Trio time, session) and the task that fires its entries in order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timed]] = []
        self._order = itertools.count()  # ties fire in the order they were armed
        self._wait: trio.CancelScope | None = None  # the task's sleep, moved earlier by an earlier entry

    def __len__(self) -> int:
        return len(self._heap)

    def arm(self, at: float, session: Timed) -> None:
        """Call `session.on_timer` once Trio's clock reaches `at`; never blocks."""
        heapq.heappush(self._heap, (at, next(self._order), session))
        if self._wait is not None and at < self._wait.deadline:
            self._wait.deadline = at

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire the entries as they come due, until cancelled."""
        heap = self._heap
        task_status.started()
        while True:
            with trio.move_on_at(heap[0][0] if heap else math.inf) as self._wait:
                await trio.sleep_forever()
            self._wait = None
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                _, _, session = heapq.heappop(heap)
                try:
                    session.on_timer(now)
                except Exception:  # one session's fault must not stop every session's keepalive
                    log.exception("a session's timer failed: %r", session)
