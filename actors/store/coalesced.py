"""Reads by key, coalesced: the keys asked for while the read connections are busy go in one read.

Many actors starting at once (a lost node's accounts, taken over together;
a burst of group asks, each taking its account's pending deliveries) each
read a few rows of their own. One read per actor costs each a worker-thread
hop and a round trip; `Coalesced` gathers the keys asked for while every
read turn is taken and reads them together, once a turn is free. An idle
store reads a lone key at once: nothing waits for company.

A key joins a batch only before the batch's read begins, so the rows it
gets were read after it was asked for: never older than a read of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from copy import copy
from typing import Generic, TypeVar

import trio

K = TypeVar("K")
V = TypeVar("V")


class _Batch(Generic[K, V]):
    __slots__ = ("keys", "done", "found", "error")

    def __init__(self) -> None:
        self.keys: list[K] = []
        self.done = trio.Event()
        self.found: Mapping[K, V] | None = None
        self.error: Exception | None = None


class Coalesced(Generic[K, V]):
    """`get(key)` answered by `read_many(keys)` for every key asked for while the `turns` read turns were taken.

    `read_many` must return a value for each key it is given. The first
    key of a batch leads it: it waits for a turn, closes the batch and reads.
    A leader cancelled before its read ended leaves the batch unread; the
    batch's other callers then ask again (one of them leads the next batch).
    """

    def __init__(self, read_many: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]], turns: int, max_keys: int = 128) -> None:
        self._read_many = read_many
        self._turns = trio.CapacityLimiter(turns)
        self._max_keys = max_keys
        self._open: _Batch[K, V] | None = None  # the batch keys join now (its read has not begun)
        self.reads = 0  # batches read
        self.keys = 0  # keys read in them

    async def get(self, key: K) -> V:
        while True:
            batch = self._open
            leads = batch is None or len(batch.keys) >= self._max_keys
            if leads:
                batch = self._open = _Batch()
            assert batch is not None
            batch.keys.append(key)
            if leads:
                await self._lead(batch)
            else:
                await batch.done.wait()
            if batch.error is not None:
                raise batch.error if leads else copy(batch.error)
            if batch.found is not None:
                return batch.found[key]
            # its leader was cancelled before the read ended: ask again

    async def _lead(self, batch: _Batch[K, V]) -> None:
        try:
            async with self._turns:
                if self._open is batch:
                    self._open = None  # whoever asks from now on is in the next batch
                try:
                    found = await self._read_many(batch.keys)
                except Exception as exc:
                    batch.error = exc
                else:
                    batch.found = found
                    self.reads += 1
                    self.keys += len(batch.keys)
        finally:
            if self._open is batch:
                self._open = None
            batch.done.set()
