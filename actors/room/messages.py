"""The room actor's inbox: one class per message (PROTOCOL.md §10).

Every request names the acting device as a `Member` (user and login): rooms
hold one device per user, so "is this device in the room" is a question about
the pair, not the user alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime import Asks
from ..wire.messages import Message, TextOrBytes
from ..wire.rooms import RoomInfoBody


@dataclass(frozen=True, slots=True)
class Member:
    """The device acting in a room: its user and its login (which names its session)."""

    user_id: str
    login_id: str


RoomInfo = RoomInfoBody  # a room's identity as the wire shows it (`roomInfo`)


@dataclass(frozen=True, slots=True)
class Create(Asks[RoomInfo]):
    """Create the room and join it (3001 if it exists); `enter` creates only if absent.

    Answers the RoomInfo. `attributes` and `destroy_delay_s` apply only when
    this message creates the room.
    """

    member: Member
    room_name: str
    attributes: tuple[tuple[str, str], ...] = ()
    destroy_delay_s: float = 0.0
    enter: bool = False


@dataclass(frozen=True, slots=True)
class Join(Asks[RoomInfo]):
    """Join an existing room (3002 if absent); answers the RoomInfo."""

    member: Member


@dataclass(frozen=True, slots=True)
class Leave(Asks[None]):
    """The device leaves the room on purpose (3003 if it is not the user's device in it)."""

    member: Member


@dataclass(frozen=True, slots=True)
class DeviceGone:
    """The device's connection ended: it leaves the room if it is in it. Told, not asked."""

    member: Member


@dataclass(frozen=True, slots=True)
class Say(Asks[Message]):
    """A room message from a member; answers the sender's Message (direction 0)."""

    member: Member
    type: int
    message: TextOrBytes
    extended_data: str = ""
    client_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class QueryMembers(Asks["MemberPage"]):
    """One page of members in join order; answers MemberPage."""

    member: Member
    count: int
    next_flag: str = ""


@dataclass(frozen=True, slots=True)
class MemberPage:
    """Answer to QueryMembers: user IDs, and the flag of the next page ("" at the end)."""

    user_ids: tuple[str, ...]
    next_flag: str


@dataclass(frozen=True, slots=True)
class QueryOnlineCount(Asks[int]):
    """Answer with the number of members (all members are online devices)."""

    member: Member


@dataclass(frozen=True, slots=True)
class SetAttributes(Asks[tuple[str, ...]]):
    """Set room attributes; answers the keys it could not set (owned by others, no force)."""

    member: Member
    attributes: tuple[tuple[str, str], ...]
    is_force: bool = False
    is_delete_after_owner_left: bool = False
    is_update_owner: bool = False


@dataclass(frozen=True, slots=True)
class DeleteAttributes(Asks[tuple[str, ...]]):
    """Delete room attributes; answers the keys it could not delete."""

    member: Member
    keys: tuple[str, ...]
    is_force: bool = False


@dataclass(frozen=True, slots=True)
class QueryAttributes(Asks[dict[str, str]]):
    """Answer with every room attribute as a dict."""

    member: Member


@dataclass(frozen=True, slots=True)
class Inspect(Asks["RoomSnapshot | None"]):
    """Admin: answer a RoomSnapshot, or None when the room does not exist."""


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """What the admin API shows of one room."""

    info: RoomInfo
    members: tuple[Member, ...]
    attributes: tuple[tuple[str, str], ...]
    destroy_delay_s: float
    destroy_in_s: float | None  # None unless the room is empty and waiting to be destroyed


@dataclass(frozen=True, slots=True)
class DestroyDue:
    """The room's destruction timer ran out (told by the timer); ignored if disarmed since."""


@dataclass(frozen=True, slots=True)
class FlushDue:
    """The member-event batching window ran out (told by the timer)."""


@dataclass(frozen=True, slots=True)
class NodesLeft:
    """Nodes left the cluster: the members whose devices they served leave the room. Told, not asked."""

    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TooSlow:
    """The device's own node found its queue too full for the room's traffic (a cluster): it is dropped as slow. Told, not asked."""

    login_id: str


RoomMsg = (
    Create | Join | Leave | DeviceGone | Say | QueryMembers | QueryOnlineCount
    | SetAttributes | DeleteAttributes | QueryAttributes | Inspect | DestroyDue | FlushDue | NodesLeft | TooSlow
)
