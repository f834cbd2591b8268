"""Between nodes: placement of actors, the bus, the routing transport."""

from .base import Bus, StaleMembership
from .codec import MessageCodec, UnknownMessage
from .local import LocalBus, RoutingTransport
from .placement import Membership, owner_of

__all__ = [
    "Bus", "LocalBus", "Membership", "MessageCodec", "RoutingTransport", "StaleMembership", "UnknownMessage", "owner_of",
]
