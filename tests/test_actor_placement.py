"""Actors addressed the same way whether they live on this node or another."""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

import trio

from actors.bus import LocalBus, Membership, RoutingTransport, StaleMembership, owner_of
from actors.runtime import Actor, ActorRef, Address, Registry, Reply


class _Echo(Actor[str]):
    """Answers which node it lives on."""

    def __init__(self, address: Address, node: str) -> None:
        super().__init__(address)
        self.node = node

    async def handle(self, msg: str, reply: Reply[Any] | None) -> None:
        assert reply is not None
        reply.set((self.node, msg))


def test_owner_is_stable_and_moves_little_when_a_node_joins() -> None:
    addresses = [Address("account", f"u{i}") for i in range(2000)]
    before = {a: owner_of(a, ["n1", "n2", "n3"]) for a in addresses}
    assert set(Counter(before.values())) == {"n1", "n2", "n3"}
    assert all(owner_of(a, ["n3", "n1", "n2"]) == before[a] for a in addresses)
    after = {a: owner_of(a, ["n1", "n2", "n3", "n4"]) for a in addresses}
    moved = [a for a in addresses if before[a] != after[a]]
    assert all(after[a] == "n4" for a in moved)  # only to the newcomer
    assert 0.15 < len(moved) / len(addresses) < 0.35  # about 1/4


async def test_asks_reach_the_owning_node_through_the_bus(nursery: trio.Nursery) -> None:
    with trio.fail_after(10):
        membership = Membership(1, ("a", "b"))
        bus = LocalBus(membership)
        transports = {}
        for node in ("a", "b"):
            registry = Registry(nursery, {"echo": partial(_Echo, node=node)})
            transports[node] = RoutingTransport(node, registry, bus, membership)
        for i in range(50):
            address = Address("echo", f"k{i}")
            expected = owner_of(address, membership.nodes)
            for caller in ("a", "b"):
                ref: ActorRef[str] = ActorRef(address, transports[caller])
                assert await ref.ask("hi", timeout=5) == (expected, "hi")
            other = "b" if expected == "a" else "a"
            assert not transports[other].registry.is_live(address)


async def test_a_stale_membership_is_refused(nursery: trio.Nursery) -> None:
    with trio.fail_after(10):
        old = Membership(1, ("a", "b"))
        bus = LocalBus(old)
        a = RoutingTransport("a", Registry(nursery, {"echo": lambda ad: _Echo(ad, "a")}), bus, old)
        b = RoutingTransport("b", Registry(nursery, {"echo": lambda ad: _Echo(ad, "b")}), bus, old)
        address = next(Address("echo", f"k{i}") for i in range(100) if owner_of(Address("echo", f"k{i}"), ("a", "b")) == "b")
        b.membership = Membership(2, ("a", "b"))  # b heard of a change that a has not
        try:
            await b.receive(address, _envelope(), 1)
        except StaleMembership:
            pass
        else:
            raise AssertionError("a stale request must be refused")
        bus.change(Membership(2, ("a", "b")))
        assert await ActorRef[str](address, a).ask("x", timeout=5) == ("b", "x")


def _envelope() -> Any:
    from actors.runtime import Envelope

    return Envelope("x", Reply())
