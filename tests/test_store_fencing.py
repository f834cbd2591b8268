"""Ownership fencing in the store, on both engines: an epoch per actor, a claim that moves it, a check on every write.

Two stores opened on the same data are two nodes sharing one database (on
SQLite, two writers on one file: what the check does is the same).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial

import pytest
import trio
import trio.testing

from actors.errors import OwnershipLost
from actors.store.base import AccountWrite, Fence, GroupRecord, GroupWrite, MessageRow, StoredEvent
from tests.store_engines import Engine, EngineStore

ACCOUNT = "account:alice"


def _event(seq: int) -> StoredEvent:
    return StoredEvent(seq=seq, name="messageReceived", payload=b"\xa0", time=1_000 + seq)


def _message(message_id: str) -> MessageRow:
    return MessageRow(message_id, 1, "alice", "bob", 1, "hi", "", 5, None, False, 0)


def _send(seq: int, message_id: str) -> AccountWrite:
    """A peer send as the account actor commits it: the message, an event, a delivery, an outbox row for another account."""
    return AccountWrite(
        "alice", events=[_event(seq)], new_message=_message(message_id), deliveries=[("bob", message_id)],
        outbox_events=[("carol", b"\x80", None)],
    )


async def _stored(store: EngineStore) -> tuple[int, int, int]:
    """(alice's head seq, messages, outbox rows): what a refused write must leave untouched."""
    _, head = await store.stream_bounds("alice")
    (messages,) = await store.read(lambda c: c.execute("SELECT COUNT(*) FROM messages").fetchone())
    (outbox,) = await store.read(lambda c: c.execute("SELECT COUNT(*) FROM outbox").fetchone())
    return head, int(messages), int(outbox)


async def test_claims_move_the_epoch_and_name_the_node(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            assert await store.owner(ACCOUNT) is None
            assert await store.claim(ACCOUNT, "n1", 10) == 1
            assert await store.claim(ACCOUNT, "n2", 20) == 2
            assert await store.claim("group:g1", "n1", 30) == 1  # each actor has its own epoch
            assert await store.owner(ACCOUNT) == ("n2", 2)
        async with engine.open() as store:  # durable
            assert await store.owner(ACCOUNT) == ("n2", 2)
            assert await store.claim(ACCOUNT, "n1", 40) == 3


async def test_a_fenced_write_commits_while_its_epoch_holds(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            epoch = await store.claim(ACCOUNT, "n1", 10)
            await store.commit(_send(1, "m1"), fence=Fence(ACCOUNT, epoch))
            assert await _stored(store) == (1, 1, 2)
            assert await store.trim_stream("alice", 0, 0, fence=Fence(ACCOUNT, epoch)) == 1


async def test_a_claim_by_a_second_node_fences_the_first(engine: Engine) -> None:
    with trio.fail_after(20):
        async with engine.open() as node1, engine.open() as node2:
            first = await node1.claim(ACCOUNT, "n1", 10)
            await node1.commit(_send(1, "m1"), fence=Fence(ACCOUNT, first))
            second = await node2.claim(ACCOUNT, "n2", 20)
            assert second > first
            before = await _stored(node1)
            # every kind of write the stale owner makes is refused, and none of it is stored
            with pytest.raises(OwnershipLost, match=r"account:alice was taken over \(epoch 2 of node n2 holds it now"):
                await node1.commit(_send(2, "m2"), fence=Fence(ACCOUNT, first))
            with pytest.raises(OwnershipLost):
                await node1.trim_stream("alice", 0, 0, fence=Fence(ACCOUNT, first))
            with pytest.raises(OwnershipLost):
                await node1.commit_group(GroupWrite(GroupRecord("g1", "G", "", {}, 1, 0, {})), fence=Fence("group:g1", 1))
            assert await _stored(node1) == before
            assert await node1.load_group("g1") is None
            assert await node1.events_after("alice", 0, 10) != []  # the trim deleted nothing
            # the new owner goes on from what the old one committed
            await node2.commit(_send(2, "m2"), fence=Fence(ACCOUNT, second))
            assert await _stored(node2) == (2, 2, 4)
            assert node1.statistics()["jobs_fenced"] == 3


class _HeldWriter:
    """Holds the store's writer thread in one job while the test queues the next batch, job by job, in order."""

    def __init__(self, store: EngineStore, nursery: trio.Nursery) -> None:
        self.store = store
        self.nursery = nursery
        self.outcomes: dict[str, object] = {}
        self._release = threading.Event()

    async def __aenter__(self) -> _HeldWriter:
        self.nursery.start_soon(self.store.write, lambda _conn: self._release.wait(5))
        await trio.testing.wait_all_tasks_blocked()  # the writer thread is in that job
        return self

    async def queue(self, name: str, write: Callable[[], Awaitable[object]]) -> None:
        """Queue `write` behind those queued before; 'ok' for a commit, a claim's epoch, or 'fenced' lands in `outcomes[name]`."""

        async def run() -> None:
            try:
                result = await write()
                self.outcomes[name] = "ok" if isinstance(result, list) else result
            except OwnershipLost:
                self.outcomes[name] = "fenced"

        self.nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()

    async def __aexit__(self, *_: object) -> None:
        self._release.set()


async def test_a_stale_write_fails_alone_in_its_batch(engine: Engine) -> None:
    """A refused job is left out of its batch; the jobs beside it commit."""
    with trio.fail_after(10):
        async with engine.open() as store:
            stale = await store.claim(ACCOUNT, "n1", 10)
            current = await store.claim(ACCOUNT, "n2", 20)
            async with trio.open_nursery() as nursery, _HeldWriter(store, nursery) as held:
                await held.queue("stale", partial(store.commit, _send(1, "m1"), fence=Fence(ACCOUNT, stale)))
                await held.queue("current", partial(store.commit, _send(1, "m2"), fence=Fence(ACCOUNT, current)))
                await held.queue("unfenced", partial(store.commit, AccountWrite("dave", events=[_event(1)])))
            assert held.outcomes == {"stale": "fenced", "current": "ok", "unfenced": "ok"}
            assert store.statistics()["largest_batch"] == 3
            assert await _stored(store) == (1, 1, 2)
            rows = await store.read(lambda c: c.execute("SELECT message_id FROM messages").fetchall())
            assert [r[0] for r in rows] == ["m2"]


async def test_a_stale_write_fails_alone_when_its_batch_runs_again_job_by_job(engine: Engine) -> None:
    """A job that raises makes the engine run the batch again, each job in a savepoint: the fence holds there too."""
    with trio.fail_after(10):
        async with engine.open() as store:
            stale = await store.claim(ACCOUNT, "n1", 10)
            current = await store.claim(ACCOUNT, "n2", 20)
            await store.commit(AccountWrite("alice", events=[_event(1)]), fence=Fence(ACCOUNT, current))
            async with trio.open_nursery() as nursery, _HeldWriter(store, nursery) as held:
                await held.queue("stale", partial(store.commit, _send(2, "m1"), fence=Fence(ACCOUNT, stale)))
                await held.queue("repeat", partial(held_error, store.commit(_send(1, "m2"), fence=Fence(ACCOUNT, current))))
                await held.queue("current", partial(store.commit, _send(2, "m3"), fence=Fence(ACCOUNT, current)))
            assert held.outcomes == {"stale": "fenced", "repeat": "ValueError", "current": "ok"}
            rows = await store.read(lambda c: c.execute("SELECT message_id FROM messages").fetchall())
            assert [r[0] for r in rows] == ["m3"]


async def held_error(write: Awaitable[object]) -> object:
    """The name of the error `write` raised (other than OwnershipLost), or its result."""
    try:
        return await write
    except OwnershipLost:
        raise
    except Exception as exc:
        return type(exc).__name__


async def test_a_write_queued_behind_a_claim_in_the_same_batch_is_checked_against_the_new_epoch(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            old = await store.claim(ACCOUNT, "n1", 10)
            async with trio.open_nursery() as nursery, _HeldWriter(store, nursery) as held:
                await held.queue("claim", partial(store.claim, ACCOUNT, "n1", 20))
                await held.queue("write", partial(store.commit, _send(1, "m1"), fence=Fence(ACCOUNT, old)))
                await held.queue("claimed", partial(store.commit, _send(1, "m2"), fence=Fence(ACCOUNT, old + 1)))
            assert held.outcomes == {"claim": old + 1, "write": "fenced", "claimed": "ok"}
            assert store.statistics()["largest_batch"] == 3
            assert await _stored(store) == (1, 1, 2)


async def test_claims_that_meet_in_one_batch_each_move_their_actors_epoch(engine: Engine) -> None:
    """A takeover's claims in one batch (PostgreSQL: one statement for a run of them; a run naming an actor twice goes claim by
    claim), each answered with its actor's new epoch, and the writes queued behind them checked against those epochs."""
    actors = [f"account:u{n}" for n in range(6)]
    with trio.fail_after(10):
        async with engine.open() as store:
            assert await store.claim(actors[0], "n1", 5) == 1
            before = store.statistics()["jobs_bulk"]
            async with trio.open_nursery() as nursery, _HeldWriter(store, nursery) as held:
                for n, actor in enumerate(actors):
                    await held.queue(f"claim {n}", partial(store.claim, actor, "n2", 10 + n))
                await held.queue("write", partial(store.commit, _send(1, "m1"), fence=Fence(ACCOUNT, 1)))
                for n, actor in enumerate(actors[:2] + actors[:1]):  # u0 twice in one run
                    await held.queue(f"again {n}", partial(store.claim, actor, "n3", 20 + n))
            assert held.outcomes == {
                **{f"claim {n}": 2 if n == 0 else 1 for n in range(6)}, "write": "fenced", "again 0": 3, "again 1": 2, "again 2": 4,
            }
            bulk = store.statistics()["jobs_bulk"] - before
            assert bulk == (9 if engine.name == "postgres" else 0)  # two runs (the second sent claim by claim); SQLite: one node
            assert [await store.owner(actor) for actor in actors] == [("n3", 4), ("n3", 2), *[("n2", 1)] * 4]


async def test_a_write_for_an_actor_never_claimed_is_refused(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            with pytest.raises(OwnershipLost, match="never claimed"):
                await store.commit(_send(1, "m1"), fence=Fence(ACCOUNT, 1))
            assert await _stored(store) == (0, 0, 0)


async def test_concurrent_claims_from_two_nodes_leave_one_owner(engine: Engine) -> None:
    """Claims racing from two nodes each get their own epoch; only the last one's writes commit."""
    claims_per_node = 5
    with trio.fail_after(30):
        async with AsyncExitStack() as stack:
            nodes = {name: await stack.enter_async_context(engine.open()) for name in ("n1", "n2")}
            got: list[tuple[str, int]] = []

            async def claim(name: str) -> None:
                got.append((name, await nodes[name].claim(ACCOUNT, name, 1)))

            async with trio.open_nursery() as nursery:
                for _ in range(claims_per_node):
                    for name in nodes:
                        nursery.start_soon(claim, name)
            epochs = sorted(epoch for _, epoch in got)
            assert epochs == list(range(1, 2 * claims_per_node + 1))  # no two claims share an epoch
            winner, last = max(got, key=lambda claimed: claimed[1])
            assert await nodes["n1"].owner(ACCOUNT) == (winner, last)
            committed = []
            for seq, (name, epoch) in enumerate(sorted(got), start=1):
                try:
                    await nodes[name].commit(AccountWrite("alice", events=[_event(seq)]), fence=Fence(ACCOUNT, epoch))
                    committed.append((name, epoch))
                except OwnershipLost:
                    pass
            assert committed == [(winner, last)]
