"""Routing over the Redis bus: what ActorRefs and actors use on one node of a cluster.

Every send asks `owner_of` over the bus's current membership: the local
registry when this node owns the address, the bus otherwise. Envelopes that
arrive from other nodes are posted into the local inboxes in arrival order,
without waiting on a full inbox (the registry's courier holds them), so one
busy actor never stalls the node's whole inbox stream.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..runtime import ActorRef, ActorUnavailable, Address, Envelope, Registry
from .placement import NODE_KIND, home_of
from .redis import BusUnavailable, RedisBus

log = logging.getLogger("hubbub.bus")


class ClusterRouting:
    """An actor Transport for one node: the local registry or the Redis bus, by owner."""

    def __init__(
        self, registry: Registry, bus: RedisBus, for_node: Callable[[Envelope[Any]], Awaitable[None]] | None = None,
    ) -> None:
        self.node = bus.node
        self.registry = registry
        self.bus = bus
        # what is told or asked of this node itself (Address(NODE_KIND, node)), not an actor
        self.for_node = for_node
        bus.attach(self._arrived)

    def owner(self, address: Address) -> str:
        """The node that owns `address` in this node's current view (itself while it knows no other)."""
        return home_of(address, self.bus.membership.nodes or (self.node,))

    def owns(self, address: Address) -> bool:
        return self.owner(address) == self.node

    def ref(self, address: Address) -> ActorRef[Any]:
        return ActorRef(address, self)

    async def deliver(self, address: Address, envelope: Envelope[Any]) -> None:
        """Deliver to the owner. Blocks while a local inbox is full; raises BusUnavailable when Redis does not take it.

        Raises ActorUnavailable once this node's lease may have lapsed: its
        actors may already live on another node, and a node that lost its
        place serves no request until it has stopped.
        """
        self._check_lease(address)
        owner = self.owner(address)
        if owner == self.node:
            await self.registry.deliver(address, envelope)
        else:
            await self.bus.send(owner, address, envelope, self.bus.membership.version)

    async def post(self, address: Address, msg: object) -> None:
        """Tell from one actor to another without waiting on a full inbox; lost (and logged) when Redis is down.

        What a post carries is durable elsewhere (the outbox redelivers it),
        so losing one to a Redis outage delays it and never drops it.
        """
        owner = self.owner(address)
        if owner == self.node:
            if not self.bus.holds_lease():
                log.warning("actor=%s post dropped: this node's lease may have lapsed", address)
                return
            await self.registry.post(address, msg)
            return
        await self.post_or_fail(address, msg)

    async def post_or_fail(self, address: Address, msg: object) -> bool:
        """`post`, saying whether the message left this node: False when the bus refused it (logged)."""
        owner = self.owner(address)
        if owner == self.node:
            await self.post(address, msg)
            return True
        try:
            await self.bus.send(owner, address, Envelope(msg), self.bus.membership.version)
        except BusUnavailable as exc:
            log.warning("actor=%s post to node=%s lost: %s", address, owner, exc)
            return False
        return True

    async def _arrived(self, address: Address, envelope: Envelope[Any]) -> None:
        if address.kind == NODE_KIND:
            if self.for_node is not None:
                await self.for_node(envelope)
            elif envelope.reply is not None:
                envelope.reply.fail(ActorUnavailable(address, f"node {self.node} answers no asks"))
            return
        if not self.bus.holds_lease():
            if envelope.reply is not None:
                envelope.reply.fail(ActorUnavailable(address, f"node {self.node} lost its lease"))
            return
        try:
            await self.registry.post(address, envelope.msg, envelope.reply)
        except ActorUnavailable as exc:  # this node is shutting down: its inbox reader carries on until it stops
            if envelope.reply is not None:
                envelope.reply.fail(exc)
            else:
                log.warning("actor=%s post from another node dropped: %s", address, exc)

    def _check_lease(self, address: Address) -> None:
        if not self.bus.holds_lease():
            raise ActorUnavailable(address, f"node {self.node} lost its lease")
