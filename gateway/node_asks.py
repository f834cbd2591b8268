"""What one node of a cluster asks the others about themselves, over the bus (their admin figures, a user's rooms, a message token).

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
    """Of the live rooms on one node: how many a user created, and how many of those are empty."""

    created: int
    lingering: int


@dataclass(frozen=True, slots=True)
class AskCreatedRooms(Asks[CreatedRooms]):
    """Answer the CreatedRooms of `user_id` on this node."""

    user_id: str


@dataclass(frozen=True, slots=True)
class TakeSendToken(Asks[bool]):
    """Spend one of `user_id`'s message tokens (gateway/send_budget.py) on the node where its account actor lives.

    That node keeps the account's one budget, whichever nodes its devices send through.
    """

    user_id: str


NodeAsk = AskFigures | AskCreatedRooms | TakeSendToken


def gather_timeout_s(ask_timeout_s: float) -> float:
    """How long the others have to answer a node ask: 3 s at most, and half an actor's time to answer a request.

    A room creation waits for the room caps' gather inside its own ask
    (`ask_timeout_s`): a node that does not answer must not make it time out.
    """
    return min(3.0, ask_timeout_s / 2)
