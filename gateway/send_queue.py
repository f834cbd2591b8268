"""A session's outbound queue: the frames (and replays, disconnects) waiting for its writer.

Bounded twice, in items (`max_items`) and in the bytes of their frames
(`max_bytes`): a device that stops reading must not grow server memory.
Actors' pushes never wait (`offer` says which bound refused an item, and
the session closes itself as a slow consumer); the session's reader waits
for room (`put`, items only: it sends one reply per request it read). One
writer takes the items in order (`take`, `get`).

It holds what a trio memory channel holds for the same job and no more: no
channel objects, no tables of waiting tasks, and no buffer while empty (an
empty deque is 760 bytes; an idle device's queue is empty). The writer
waits by parking its task, which a push reschedules.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import trio

from actors.outbound import DeviceEvent, Outbound

Bound = Literal["frames", "bytes"]


def size_of(item: Outbound) -> int:
    """Bytes an outbound item holds while queued: its frame; a few fields for the rest."""
    if isinstance(item, bytes):
        return len(item)
    if isinstance(item, DeviceEvent):
        return len(item.frame())  # encoded once, cached for the other devices and the writer
    return 0


class SendQueue:
    """Items in order for one writer task, bounded in items and in bytes."""

    __slots__ = ("max_items", "max_bytes", "bytes", "_items", "_writer", "_room")

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.bytes = 0  # of the items' frames now queued
        self._items: deque[Outbound] | None = None  # none while empty
        self._writer: trio.lowlevel.Task | None = None  # parked in `get` until an item arrives
        self._room: trio.Event | None = None  # set when an item leaves a full queue (a `put` waits on it)

    def __len__(self) -> int:
        return 0 if self._items is None else len(self._items)

    @property
    def writer_waiting(self) -> bool:
        """The writer is parked in `get`, holding nothing."""
        return self._writer is not None

    def refusal(self, item: Outbound) -> Bound | None:
        """Which bound `item` would pass ("bytes" first), or None if it fits. A lone item always fits its bytes."""
        if self.bytes and self.bytes + size_of(item) > self.max_bytes:
            return "bytes"
        if len(self) >= self.max_items:
            return "frames"
        return None

    def offer(self, item: Outbound) -> Bound | None:
        """Queue `item` if both bounds allow it; never waits. Returns the bound that refused it, or None."""
        refused = self.refusal(item)
        if refused is None:
            self._append(item)
        return refused

    async def put(self, item: Outbound) -> None:
        """Queue `item`, waiting while the queue holds `max_items` (its bytes are not bounded here).

        Cancelled with the caller's scope; nothing is queued then. It yields
        to the scheduler only while it waits for room: the reader that calls
        it yields next when it reads the socket, and the writer it wakes runs
        then.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while len(self) >= self.max_items:
            if self._room is None:
                self._room = trio.Event()
            await self._room.wait()
        self._append(item)

    def take(self) -> Outbound | None:
        """The next item, or None if the queue is empty; never waits."""
        items = self._items
        if items is None:
            return None
        item = items.popleft()
        if not items:
            self._items = None
        self.bytes -= size_of(item)
        room = self._room
        if room is not None and len(self) < self.max_items:
            self._room = None
            room.set()
        return item

    async def get(self) -> Outbound:
        """The next item, waiting for one (one writer). Cancelled with the caller's scope."""
        await trio.lowlevel.checkpoint_if_cancelled()
        item = self.take()
        if item is not None:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return item
        assert self._writer is None, "SendQueue has one writer"
        self._writer = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            self._writer = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        item = self.take()
        assert item is not None, "the writer was woken with nothing queued"
        return item

    def _append(self, item: Outbound) -> None:
        items = self._items
        if items is None:
            items = self._items = deque()
        items.append(item)
        self.bytes += size_of(item)
        writer = self._writer
        if writer is not None:
            self._writer = None
            trio.lowlevel.reschedule(writer)
