"""The Redis bus between nodes, against a real Redis: delivery, asks, leases, repeats, a Redis restart.

Several buses live in one process here, each with a registry of its own,
exactly as separate nodes would; the subprocess cluster tests run whole
servers. Leases are short (a second) so that expiry takes real seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import coredis
import pytest
import trio

from actors.bus import NODE_KIND, BusUnavailable, ClusterRouting, MessageCodec, RedisBus, owner_of
from actors.bus.redis_pool import SlotKeepingPool
from actors.runtime import Actor, ActorUnavailable, Address, Asks, AskTimeout, Envelope, Registry, Reply, answer
from actors.wire.errors import HubbubError, NotInRoom
from tests.redis_servers import RedisForTests

LEASE_S = 5.0  # a node starved for a second or two on a loaded machine keeps its lease (1 s lapsed at load 10)


@dataclass(frozen=True, slots=True)
class Where(Asks[tuple[str, str]]):
    """Ask: which node hosts you? Answered (node, text)."""

    text: str


@dataclass(frozen=True, slots=True)
class Refuse(Asks[None]):
    """Ask that the actor refuses with a protocol error."""


@dataclass(frozen=True, slots=True)
class Note:
    """Tell: remember `n`."""

    n: int


@dataclass(frozen=True, slots=True)
class Name(Asks[str]):
    """Ask a node itself (Address(NODE_KIND, node)): what is your name?"""


EchoMsg = Where | Refuse | Note
CODEC = MessageCodec({"echo": EchoMsg, NODE_KIND: Name})


class _Echo(Actor[EchoMsg]):
    def __init__(self, address: Address, node: str, notes: dict[Address, list[int]]) -> None:
        super().__init__(address)
        self.node = node
        self.notes = notes

    async def handle(self, msg: EchoMsg, reply: Reply[Any] | None) -> None:
        match msg:
            case Where():
                answer(reply, msg, (self.node, msg.text))
            case Refuse():
                raise NotInRoom("not here")
            case Note():
                self.notes[self.address].append(msg.n)


@dataclass
class Node:
    name: str
    bus: RedisBus
    routing: ClusterRouting
    notes: dict[Address, list[int]]
    scope: trio.CancelScope


async def start_node(nursery: trio.Nursery, url: str, name: str, lease_s: float = LEASE_S) -> Node:
    notes: dict[Address, list[int]] = defaultdict(list)
    registry = Registry(nursery, {"echo": lambda address: _Echo(address, name, notes)})
    bus = RedisBus(url, name, CODEC, lease_s=lease_s, prefix="test")
    routing = ClusterRouting(registry, bus)
    scope = trio.CancelScope()

    async def run(*, task_status: trio.TaskStatus[RedisBus]) -> None:
        with scope:
            await bus.run(task_status=task_status)

    await nursery.start(run)
    return Node(name, bus, routing, notes, scope)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (within the test's fail_after) until `condition()` holds.

    Polled: what it reads changes in other nodes' tasks and in Redis itself
    (a lease expiring on Redis's clock), which no single event announces.
    """
    while not condition():  # noqa: ASYNC110  no event announces a change in another node or in Redis (see above); bounded by the test's fail_after
        await trio.sleep(0.05)


def views_agree(nodes: list[Node], names: set[str]) -> bool:
    versions = {n.bus.membership.version for n in nodes}
    return len(versions) == 1 and all(set(n.bus.membership.nodes) == names for n in nodes)


async def cluster(nursery: trio.Nursery, url: str, names: str = "abc", lease_s: float = LEASE_S) -> list[Node]:
    nodes = [await start_node(nursery, url, name, lease_s) for name in names]
    await until(lambda: views_agree(nodes, set(names)))
    return nodes


async def test_asks_and_tells_reach_the_owning_node(nursery: trio.Nursery, redis_server: RedisForTests) -> None:
    with trio.fail_after(20):
        nodes = await cluster(nursery, redis_server.url)
        by_name = {n.name: n for n in nodes}
        addresses = [Address("echo", f"k{i}") for i in range(30)]
        owners = {a: owner_of(a, ("a", "b", "c")) for a in addresses}
        assert set(owners.values()) == {"a", "b", "c"}
        for address in addresses:
            for caller in nodes:
                where = await caller.routing.ref(address).ask(Where(caller.name), timeout=5)
                assert where == (owners[address], caller.name)
        sender = by_name["a"]
        for n in range(20):
            for address in addresses:
                await sender.routing.ref(address).tell(Note(n))
        await until(lambda: all(len(by_name[owners[a]].notes[a]) == 20 for a in addresses))
        for address in addresses:
            assert by_name[owners[address]].notes[address] == list(range(20))  # in order, once each
            assert all(address not in n.notes for n in nodes if n.name != owners[address])


async def test_a_refusal_crosses_the_bus_with_its_code(nursery: trio.Nursery, redis_server: RedisForTests) -> None:
    with trio.fail_after(20):
        a, b = await cluster(nursery, redis_server.url, "ab")
        remote = next(Address("echo", f"k{i}") for i in range(100) if owner_of(Address("echo", f"k{i}"), ("a", "b")) == "b")
        with pytest.raises(HubbubError) as refused:
            await a.routing.ref(remote).ask(Refuse(), timeout=5)
        assert type(refused.value) is NotInRoom and refused.value.code == 3003 and refused.value.message == "not here"
        assert await a.routing.ref(remote).ask(Where("after"), timeout=5) == ("b", "after")  # the actor carried on


async def test_a_node_answers_what_is_asked_of_it_and_one_that_answers_nothing_says_so(
    nursery: trio.Nursery, redis_server: RedisForTests
) -> None:
    with trio.fail_after(30):
        a, b = await cluster(nursery, redis_server.url, "ab", lease_s=5.0)  # no lapse on a loaded machine

        async def name_of_b(envelope: Envelope[Any]) -> None:
            assert isinstance(envelope.msg, Name) and envelope.reply is not None
            answer(envelope.reply, envelope.msg, b.name)

        b.routing.for_node = name_of_b
        assert await a.routing.ref(Address(NODE_KIND, "b")).ask(Name(), timeout=10) == "b"
        b.routing.for_node = None
        with pytest.raises(ActorUnavailable, match="node b answers no asks"):
            await a.routing.ref(Address(NODE_KIND, "b")).ask(Name(), timeout=10)


async def test_an_expired_lease_leaves_the_membership_and_its_actors_move(nursery: trio.Nursery, redis_server: RedisForTests) -> None:
    with trio.fail_after(30):
        a, b = await cluster(nursery, redis_server.url, "ab")
        # A node that joined and then went silent: its lease is renewed by nobody.
        # (Renewed here until both nodes saw it and once more before the ask: a
        # starved test must not let it lapse before it was seen or asked.)
        async with coredis.Redis.from_url(redis_server.url) as raw:

            async def ghost_lease_from_now() -> None:
                now = await raw.time()
                await raw.zadd("test:members", {"ghost": int(now.timestamp() * 1000) + 3000})

            await ghost_lease_from_now()
            while not views_agree([a, b], {"a", "b", "ghost"}):  # polled, as `until` (the loop renews as it waits)
                await ghost_lease_from_now()
                await trio.sleep(0.05)
            joined = a.bus.membership.version
            await ghost_lease_from_now()
        haunted = next(Address("echo", f"k{i}") for i in range(200) if owner_of(Address("echo", f"k{i}"), ("a", "b", "ghost")) == "ghost")
        with pytest.raises(AskTimeout):
            await a.routing.ref(haunted).ask(Where("anyone?"), timeout=0.5)  # nobody reads the ghost's inbox
        await until(lambda: views_agree([a, b], {"a", "b"}))
        assert a.bus.membership.version > joined
        owner = owner_of(haunted, ("a", "b"))
        assert await a.routing.ref(haunted).ask(Where("now"), timeout=5) == (owner, "now")
        await until(lambda: not a.bus._pending)  # the ask that timed out is forgotten
        assert not a.bus.lapsed.is_set() and not b.bus.lapsed.is_set()


async def test_a_lease_that_expired_in_redis_leaves_every_view_at_the_next_renewal(
    nursery: trio.Nursery, redis_server: RedisForTests
) -> None:
    with trio.fail_after(30):
        a, b = await cluster(nursery, redis_server.url, "ab", lease_s=30.0)
        async with coredis.Redis.from_url(redis_server.url) as raw:
            # A node that renews a short lease until both nodes saw it, then goes silent.
            while not views_agree([a, b], {"a", "b", "ghost"}):
                expiry = int((await raw.time()).timestamp() * 1000) + 1000
                await raw.zadd("test:members", {"ghost": expiry})
                await trio.sleep(0.05)
            while (await raw.time()).timestamp() * 1000 <= expiry:  # noqa: ASYNC110 (Redis's clock, which no event announces)
                await trio.sleep(0.05)
        # Each node's next renewal runs after the ghost's lease expired on
        # Redis's clock: the ghost goes then, not a lease (30 s) after it was seen.
        sent_after = {n.name: n.bus._renewed_at for n in (a, b)}
        await until(lambda: all(n.bus._renewed_at > sent_after[n.name] for n in (a, b)))
        assert set(a.bus.membership.nodes) == set(b.bus.membership.nodes) == {"a", "b"}


async def test_a_node_that_leaves_is_gone_at_once(nursery: trio.Nursery, redis_server: RedisForTests) -> None:
    with trio.fail_after(20):
        a, b, c = await cluster(nursery, redis_server.url, "abc", lease_s=30.0)
        c.scope.cancel()  # a clean stop leaves the membership without waiting for the 30 s lease
        await until(lambda: views_agree([a, b], {"a", "b"}))


async def test_a_node_that_joins_nudges_the_others_to_renew_at_once(nursery: trio.Nursery, redis_server: RedisForTests) -> None:
    with trio.fail_after(20):
        a, b = await cluster(nursery, redis_server.url, "ab", lease_s=30.0)  # each renews once a second by itself
        async with coredis.Redis.from_url(redis_server.url) as raw:
            for key in ("test:inbox:a", "test:inbox:b"):
                await raw.delete([key])
            c = await start_node(nursery, redis_server.url, "c", lease_s=30.0)
            # c's first renewal changed the live set: it put a nudge in each other node's inbox
            for key in ("test:inbox:a", "test:inbox:b"):
                assert [dict(entry.field_values) for entry in await raw.xrange(key)] == [{b"t": b"n"}]
        await until(lambda: views_agree([a, b, c], {"a", "b", "c"}))
        assert await a.routing.ref(Address("echo", "k1")).ask(Where("joined"), timeout=5) == (owner_of(Address("echo", "k1"), ("a", "b", "c")), "joined")


async def test_envelopes_for_a_node_whose_actors_are_torn_down_are_refused_and_its_bus_carries_on(
    nursery: trio.Nursery, redis_server: RedisForTests
) -> None:
    with trio.fail_after(20):
        a, b = await cluster(nursery, redis_server.url, "ab", lease_s=30.0)
        async with trio.open_nursery() as torn_down:  # b's actor nursery, gone as at the end of a shutdown
            b.routing.registry = Registry(torn_down, {"echo": lambda address: _Echo(address, "b", b.notes)})
            torn_down.cancel_scope.cancel()
        remote = next(Address("echo", f"k{i}") for i in range(100) if owner_of(Address("echo", f"k{i}"), ("a", "b")) == "b")
        await a.routing.ref(remote).tell(Note(1))  # dropped on b (logged): a post is durable elsewhere
        for _ in range(2):
            with pytest.raises(ActorUnavailable, match="shutting down"):
                await a.routing.ref(remote).ask(Where("anyone?"), timeout=5)
        assert b.notes == {} and not b.bus.lapsed.is_set()
        assert views_agree([a, b], {"a", "b"})


async def test_a_send_after_the_bus_stopped_is_refused_as_unavailable(nursery: trio.Nursery, redis_server: RedisForTests) -> None:
    with trio.fail_after(20):
        a, b = await cluster(nursery, redis_server.url, "ab", lease_s=30.0)
        a.scope.cancel()  # a's bus stops (its sessions and actors may still be ending)
        await until(lambda: views_agree([b], {"b"}))
        with pytest.raises(BusUnavailable, match="this node's bus has stopped"):
            await a.bus.send("b", Address("echo", "k1"), Envelope(Note(1)), a.bus.membership.version)


async def test_a_repeated_envelope_or_answer_is_harmless(nursery: trio.Nursery, redis_server: RedisForTests) -> None:
    with trio.fail_after(20):
        a, b = await cluster(nursery, redis_server.url, "ab")
        remote = next(Address("echo", f"k{i}") for i in range(100) if owner_of(Address("echo", f"k{i}"), ("a", "b")) == "b")
        assert await a.routing.ref(remote).ask(Where("once"), timeout=5) == ("b", "once")
        async with coredis.Redis.from_url(redis_server.url) as raw:
            # Put every entry each inbox ever held in it once more: the ask (b's), its answer (a's).
            for key in ("test:inbox:a", "test:inbox:b"):
                for entry in await raw.xrange(key):
                    await raw.xadd(key, dict(entry.field_values))
        await until(lambda: a.bus.stats["dropped_answers"] == 2)  # the old answer, and the answer to the repeated ask
        assert not a.bus._pending
        assert await a.routing.ref(remote).ask(Where("again"), timeout=5) == ("b", "again")


async def test_the_bus_carries_on_after_redis_restarts(nursery: trio.Nursery, redis_server: RedisForTests) -> None:
    with trio.fail_after(30):
        a, b = await cluster(nursery, redis_server.url, "ab", lease_s=5.0)
        remote = next(Address("echo", f"k{i}") for i in range(100) if owner_of(Address("echo", f"k{i}"), ("a", "b")) == "b")
        assert await a.routing.ref(remote).ask(Where("before"), timeout=5) == ("b", "before")
        views: list[tuple[str, ...]] = []

        async def watch(node: Node) -> None:
            while True:
                await node.bus.changed.wait()
                views.append(node.bus.membership.nodes)

        nursery.start_soon(watch, a)
        nursery.start_soon(watch, b)
        redis_server.restart()  # empty: no members, no streams
        while True:
            try:
                assert await a.routing.ref(remote).ask(Where("after"), timeout=1) == ("b", "after")
                break
            except (AskTimeout, ActorUnavailable):
                await trio.sleep(0.1)  # until both nodes renewed their leases and read their inboxes again
        await until(lambda: views_agree([a, b], {"a", "b"}))
        assert not a.bus.lapsed.is_set() and not b.bus.lapsed.is_set()
        assert views == []  # neither node ever saw the other gone: its lease still ran


async def test_a_node_that_cannot_renew_within_its_lease_lapses(nursery: trio.Nursery, redis_server: RedisForTests) -> None:
    with trio.fail_after(30):
        (a,) = await cluster(nursery, redis_server.url, "a")
        redis_server.stop()
        await a.bus.lapsed.wait()
        remote = Address("echo", "k1")
        with pytest.raises(ActorUnavailable):
            await a.bus.send("b", remote, _ask(Where("x")), a.bus.membership.version)
        redis_server.start()


def _ask(msg: object) -> Any:
    from actors.runtime import Envelope

    return Envelope(msg, Reply())


async def _cancelled_reads_then_ping(pool: coredis.ConnectionPool[Any], reads: int) -> bool:
    """Cancel `reads` blocking reads mid-wait (coredis disconnects each), then whether a command still gets a connection."""
    client: coredis.Redis[bytes] = coredis.Redis(decode_responses=False, connection_pool=pool)
    async with client:
        for _ in range(reads):
            with trio.move_on_after(0.05):
                await client.xread({b"nothing": b"0-0"}, count=1, block=5000)
        with trio.move_on_after(5):
            await client.ping()
            return True
    return False


async def test_blocking_reads_cancelled_mid_wait_leave_the_bus_pool_its_connections(redis_server: RedisForTests) -> None:
    """The inbox read cancelled by its timeout must not take a pool slot with it (after max_connections the bus stalled)."""
    with trio.fail_after(60):
        assert await _cancelled_reads_then_ping(SlotKeepingPool.from_url(redis_server.url, decode_responses=False, max_connections=2), 6)
        # coredis's own pool loses them: if this fails, coredis keeps its slots itself and SlotKeepingPool may go
        assert not await _cancelled_reads_then_ping(coredis.ConnectionPool.from_url(redis_server.url, decode_responses=False, max_connections=2), 2)
