"""The bus between nodes: carries envelopes to the node that owns an address.

    Bus        publish an envelope for an address to a node (local.py in one
               process; a NATS subject per node in cluster mode)
    Routing    an actor Transport: local registry when this node owns the
               address, the bus otherwise; callers of ActorRef never know

A request carries the sender's membership version; the owner refuses it
when its view differs (StaleMembership), so a message never reaches an
actor that has moved. The sender refreshes its view and retries.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..runtime import ActorError, Address, Envelope


class StaleMembership(ActorError):
    """The receiving node sees another membership version than the sender."""


class Bus(Protocol):
    async def send(self, node: str, address: Address, envelope: Envelope[Any], membership_version: int) -> None:
        """Carry `envelope` to `node` for the actor at `address`.

        Blocks while the receiving inbox is full (backpressure crosses the
        bus); raises StaleMembership if the versions differ.
        """
        ...
