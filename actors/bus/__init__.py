"""Between nodes: placement of actors, the bus, the routing transport."""

from .base import Bus, StaleMembership
from .local import LocalBus, RoutingTransport
from .placement import Membership, owner_of

__all__ = ["Bus", "LocalBus", "Membership", "RoutingTransport", "StaleMembership", "owner_of"]
