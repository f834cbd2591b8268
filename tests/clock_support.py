"""The autojump clock holds still while a worker thread runs.

Trio's MockClock jumps to the next deadline once every task has been blocked
for `autojump_threshold` real seconds. A task waiting on a worker thread (the
store's SQLite and PostgreSQL calls go through `trio.to_thread.run_sync`) looks
blocked to the run loop, so on a busy machine a commit that outlasted the
threshold let the clock leap past a 10 s ask timeout that the code would never
have hit in real time.

`hold_clock_during_threads` wraps `trio.to_thread.run_sync` (and `trio.Path`,
which calls it under its own name) for one test: while any thread job is in
flight under a MockClock, one system task of the run waits in
`trio.testing.wait_all_tasks_blocked` with an infinite cushion, and the run
loop never autojumps while such a waiter exists (it never wakes it either).
So the clock jumps only when the process is idle with no thread at work,
which is when a test's virtual time is meant to pass; whatever threshold the
test set (see messaging_support.jumping) still applies then. A cluster
node's Redis commands are held the same way (HUBBUB_TEST_STORE=cluster).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from actors.bus import RedisBus


class _ClockHold:
    """Counts a run's thread jobs; its system task holds the clock while any is in flight."""

    def __init__(self) -> None:
        self.jobs = 0
        self._started = trio.Event()
        self._holding = trio.CancelScope()

    def begin(self) -> None:
        self.jobs += 1
        self._started.set()

    def end(self) -> None:
        self.jobs -= 1
        if not self.jobs:
            self._holding.cancel()

    async def hold_while_busy(self) -> None:
        while True:
            if not self.jobs:
                self._started = trio.Event()
                await self._started.wait()
                continue
            self._holding = trio.CancelScope()
            with self._holding:  # cancelled by the end of the last job in flight
                await trio.testing.wait_all_tasks_blocked(cushion=math.inf)


_HOLD: trio.lowlevel.RunVar[_ClockHold] = trio.lowlevel.RunVar("clock_hold")


def _hold_of_this_run() -> _ClockHold | None:
    """The current run's hold, started on first use; None unless the run has a MockClock."""
    if not isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock):
        return None
    try:
        return _HOLD.get()
    except LookupError:
        hold = _ClockHold()
        _HOLD.set(hold)
        trio.lowlevel.spawn_system_task(hold.hold_while_busy, name="clock hold during thread jobs")
        return hold


def _holding_the_clock(call: Callable[..., Any]) -> Callable[..., Any]:
    async def call_holding_the_clock(*args: Any, **kwargs: Any) -> Any:
        hold = _hold_of_this_run()
        if hold is None:
            return await call(*args, **kwargs)
        hold.begin()
        try:
            return await call(*args, **kwargs)
        finally:
            hold.end()

    return call_holding_the_clock


def hold_clock_during_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """For one test: no autojump while a thread job or a Redis command of a node's bus is in flight.

    The bus's commands (lease renewals, sends) are round trips to another
    process, like a thread job; its blocking inbox read is not held (it
    waits for what may never come, as a socket read does), and a virtual
    jump past its timeout just starts the next read (RedisBus._read_inbox).
    """
    holding = _holding_the_clock(trio.to_thread.run_sync)
    monkeypatch.setattr(trio.to_thread, "run_sync", holding)
    # trio.Path binds the same function under its own module's name
    monkeypatch.setattr("trio._path.run_sync", holding)
    for command in ("_redis", "_xadd_all", "_nudge_others"):
        monkeypatch.setattr(RedisBus, command, _holding_the_clock(getattr(RedisBus, command)))
