"""Between nodes: placement of actors, the bus, the routing transport."""

from .base import Bus, StaleMembership
from .codec import MessageCodec, UnknownMessage
from .local import LocalBus, RoutingTransport
from .placement import NODE_KIND, Membership, home_of, owner_of
from .redis import BusUnavailable, Outgoing, RedisBus
from .routing import ClusterRouting

__all__ = [
    "NODE_KIND", "Bus", "BusUnavailable", "ClusterRouting", "LocalBus", "Membership", "MessageCodec", "Outgoing", "RedisBus", "RoutingTransport",
    "StaleMembership", "UnknownMessage", "home_of", "owner_of",
]
