"""Coalesced reads (actors/store/coalesced.py): keys asked for while the read turns are taken go in one read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial

import pytest
import trio
import trio.testing

from actors.errors import StorageUnavailable
from actors.store.coalesced import Coalesced


class Reads:
    """A read_many that records each batch and waits, while `hold` is set, for `release`."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.hold = False
        self.release = trio.Event()
        self.fail: Exception | None = None

    def let_go(self) -> None:
        """The read waiting and every later one go on."""
        self.hold = False
        self.release.set()

    async def __call__(self, keys: Sequence[str]) -> Mapping[str, str]:
        self.batches.append(list(keys))
        if self.hold:
            await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {key: key.upper() for key in keys}


async def _ask_in_turn(nursery: trio.Nursery, ask: Callable[[str], Awaitable[None]], *keys: str) -> None:
    """Start `ask(key)` for each key in turn, each blocked (in its read, or waiting for one) before the next starts."""
    for key in keys:
        nursery.start_soon(ask, key)
        await trio.testing.wait_all_tasks_blocked()


async def test_a_lone_key_is_read_at_once() -> None:
    reads = Reads()
    coalesced = Coalesced(reads, turns=1)
    with trio.fail_after(5):
        assert await coalesced.get("a") == "A"
    assert reads.batches == [["a"]]


async def test_keys_asked_for_while_the_turns_are_taken_go_in_one_read() -> None:
    reads = Reads()
    coalesced = Coalesced(reads, turns=1, max_keys=3)
    found: dict[str, str] = {}

    async def get(key: str) -> None:
        found[key] = await coalesced.get(key)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            reads.hold = True
            await _ask_in_turn(nursery, get, "first", "b", "c", "d", "e", "b")  # the first's read holds the one turn
            reads.let_go()
    assert reads.batches == [["first"], ["b", "c", "d"], ["e", "b"]]  # at most max_keys a batch, in the order asked
    assert found == {"first": "FIRST", "b": "B", "c": "C", "d": "D", "e": "E"}
    assert (coalesced.reads, coalesced.keys) == (3, 6)


async def test_every_caller_of_a_failed_read_gets_its_error() -> None:
    reads = Reads()
    coalesced = Coalesced(reads, turns=1)
    errors: list[str] = []

    async def get(key: str) -> None:
        with pytest.raises(StorageUnavailable) as caught:
            await coalesced.get(key)
        errors.append(f"{key}: {caught.value}")

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            reads.hold = True
            await _ask_in_turn(nursery, get, "a", "b", "c")
            reads.fail = StorageUnavailable("the server is gone")
            reads.let_go()
        assert sorted(errors) == ["a: the server is gone", "b: the server is gone", "c: the server is gone"]
        reads.fail = None
        assert await coalesced.get("a") == "A"  # the next read is a new one


async def test_a_leader_cancelled_before_its_read_leaves_the_batch_to_the_others() -> None:
    reads = Reads()
    coalesced = Coalesced(reads, turns=1)
    found: dict[str, str] = {}
    leader = trio.CancelScope()

    async def get(key: str, scope: trio.CancelScope | None = None) -> None:
        with scope or trio.CancelScope():
            found[key] = await coalesced.get(key)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            reads.hold = True
            await _ask_in_turn(nursery, get, "first")  # its read holds the one turn
            await _ask_in_turn(nursery, partial(get, scope=leader), "leader")  # opens the next batch, waits for the turn
            await _ask_in_turn(nursery, get, "follower")  # joins it
            leader.cancel()
            await trio.testing.wait_all_tasks_blocked()  # the follower asked again: it leads a batch of its own
            reads.let_go()
    assert found == {"first": "FIRST", "follower": "FOLLOWER"}
    assert reads.batches == [["first"], ["follower"]]
