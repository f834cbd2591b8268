"""Rooms (PROTOCOL.md §10): the room actor, its messages, the index the gateway reads."""

from . import messages
from .actor import Delivery, RoomActor, RoomContext, RoomIndex, RoomSink, room_gone_event

__all__ = ["Delivery", "RoomActor", "RoomContext", "RoomIndex", "RoomSink", "messages", "room_gone_event"]
