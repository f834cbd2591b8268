"""Between nodes: placement of actors, the bus, the routing transport."""

from .base import Bus, StaleMembership
from .codec import MessageCodec, UnknownMessage
from .local import LocalBus, RoutingTransport
from .placement import Membership, owner_of
from .redis import BusUnavailable, RedisBus
from .routing import ClusterRouting

__all__ = [
    "Bus", "BusUnavailable", "ClusterRouting", "LocalBus", "Membership", "MessageCodec", "RedisBus", "RoutingTransport",
    "StaleMembership", "UnknownMessage", "owner_of",
]
