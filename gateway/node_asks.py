"""What one node of a cluster asks the others about themselves, over the bus (their admin figures, a user's rooms).

A node answers these from memory, at once, in the order its inbox brings
them (gateway/cluster.py). The asker gathers every live node's answer
(`Cluster.gather`) and says which nodes did not answer in time.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.runtime import Asks


@dataclass(frozen=True, slots=True)
class NodeFigures:
    """One node's own part of the cluster: what its admin API counts of itself."""

    node: str
    connections: int
    devices: int  # logged-in devices whose connection this node holds
    accounts: int  # live account actors on this node
    calls: int
    groups: int
    rooms: tuple[tuple[str, int], ...]  # the live rooms whose actor is here: room ID, member count
    uptime_s: float


@dataclass(frozen=True, slots=True)
class AskFigures(Asks[NodeFigures]):
    """Answer this node's NodeFigures."""


@dataclass(frozen=True, slots=True)
class CreatedRooms:
    """Of the live rooms on one node: how many a user created, how many of those are empty, whether one room is there."""

    created: int
    lingering: int
    holds_room: bool


@dataclass(frozen=True, slots=True)
class AskCreatedRooms(Asks[CreatedRooms]):
    """Answer the CreatedRooms of `user_id` on this node, and whether room `room_id` lives here."""

    user_id: str
    room_id: str


NodeAsk = AskFigures | AskCreatedRooms
