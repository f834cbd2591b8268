"""Rooms (PROTOCOL.md §10): the room actor, its messages, the index the gateway reads."""

from . import messages
from .actor import Delivery, RoomActor, RoomContext, RoomIndex, RoomSink

__all__ = ["Delivery", "RoomActor", "RoomContext", "RoomIndex", "RoomSink", "messages"]
