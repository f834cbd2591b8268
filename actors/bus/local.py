"""The in-process bus and the routing transport that uses it.

`LocalBus` joins several nodes living in one process (tests, and the shape
a NATS bus fills in cluster mode). `RoutingTransport` is what ActorRefs use
on a node: it delivers locally or across the bus by `owner_of`.
"""

from __future__ import annotations

from typing import Any

from ..runtime import Address, Envelope, Registry
from .base import StaleMembership
from .placement import Membership, owner_of


class RoutingTransport:
    """An actor Transport for one node of a cluster."""

    def __init__(self, node: str, registry: Registry, bus: LocalBus, membership: Membership) -> None:
        self.node = node
        self.registry = registry
        self.bus = bus
        self.membership = membership
        bus.attach(self)

    async def deliver(self, address: Address, envelope: Envelope[Any]) -> None:
        """Deliver to the owning node; retries once if the membership moved meanwhile."""
        for _ in range(2):
            owner = owner_of(address, self.membership.nodes)
            if owner == self.node:
                await self.registry.deliver(address, envelope)
                return
            try:
                await self.bus.send(owner, address, envelope, self.membership.version)
                return
            except StaleMembership:
                self.membership = self.bus.membership
        raise StaleMembership(f"{address}: membership keeps changing")

    async def receive(self, address: Address, envelope: Envelope[Any], version: int) -> None:
        """An envelope from another node: accept it only under the same membership."""
        if version != self.membership.version or owner_of(address, self.membership.nodes) != self.node:
            raise StaleMembership(f"{self.node} does not own {address} at version {version}")
        await self.registry.deliver(address, envelope)


class LocalBus:
    """Joins nodes in one process. Replies travel back in-process beside the envelope."""

    def __init__(self, membership: Membership) -> None:
        self.membership = membership
        self._nodes: dict[str, RoutingTransport] = {}

    def attach(self, transport: RoutingTransport) -> None:
        self._nodes[transport.node] = transport

    def change(self, membership: Membership) -> None:
        """A node joined or left: tell every node (cluster membership service in real life)."""
        self.membership = membership
        for transport in self._nodes.values():
            transport.membership = membership

    async def send(self, node: str, address: Address, envelope: Envelope[Any], membership_version: int) -> None:
        target = self._nodes.get(node)
        if target is None:
            raise StaleMembership(f"no node {node!r} on the bus")
        await target.receive(address, envelope, membership_version)
