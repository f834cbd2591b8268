"""Wire schema of rooms (PROTOCOL.md §10): in-memory, live-only, one device per user.

Room messages use `sendMessage` with `conversationType` 1 (actors.wire.messages).
Joining, creating or entering replies `{"roomInfo": {roomID, roomName}}`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import ID, Body, Event, Reply, Request, ShortText, UserRef
from .messages import Message

MAX_DESTROY_DELAY_S = 3 * 3600
AttributeKey = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
AttributeValue = Annotated[str, msgspec.Meta(max_length=4096)]
Attributes = Annotated[dict[AttributeKey, AttributeValue], msgspec.Meta(max_length=100)]


class RoomInfoBody(Body, frozen=True):
    """`roomInfo`: the room's ID and display name."""

    room_id: ID
    room_name: ShortText = ""


class RoomInfoReply(Reply, frozen=True):
    room_info: RoomInfoBody


class RoomIDReply(Reply, frozen=True):
    room_id: str


class RoomMemberListReply(Reply, frozen=True):
    """`nextFlag` is "" on the last page."""

    room_id: str
    member_list: list[UserRef]
    next_flag: str


class RoomMemberCountReply(Reply, frozen=True):
    room_id: str
    count: int


class RoomAttributesErrorReply(Reply, frozen=True):
    """`errorKeys`: the keys left alone (owned by others, or absent)."""

    room_id: str
    error_keys: list[str]


class RoomAttributesReply(Reply, frozen=True):
    room_id: str
    room_attributes: dict[str, str]


class RoomAdvancedConfig(Body, frozen=True):
    """Applies only when the request creates the room."""

    room_attributes: Attributes = {}
    room_destroy_delay_time: Annotated[int, msgspec.Meta(ge=0, le=MAX_DESTROY_DELAY_S)] = 0


class CreateRoom(Request, tag="createRoom"):
    """Create a room and join it (event 4); an existing roomID gives 3001."""

    reply = RoomInfoReply

    room_info: RoomInfoBody
    config: RoomAdvancedConfig = RoomAdvancedConfig()


class EnterRoom(Request, tag="enterRoom"):
    """Join a room, creating it first if absent (event 6)."""

    reply = RoomInfoReply

    room_info: RoomInfoBody
    config: RoomAdvancedConfig = RoomAdvancedConfig()


class JoinRoom(Request, tag="joinRoom"):
    """Join an existing room (event 0); an absent room gives 3002.

    One device per user per room: if another device of the user is in the
    room, it gets `roomStateChanged {state 0, event 10}` and this one takes its
    place; other members see no leave or join.
    """

    reply = RoomInfoReply

    room_id: ID


class LeaveRoom(Request, tag="leaveRoom"):
    """Leave a room; 3003 if this device is not in it. Others get roomMemberLeft."""

    reply = RoomIDReply

    room_id: ID


class MemberQueryConfig(Body, frozen=True):
    """Paging: `nextFlag` is "" for the first page, then what the previous page returned."""

    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 100
    next_flag: Annotated[str, msgspec.Meta(max_length=32)] = ""


class QueryRoomMemberList(Request, tag="queryRoomMemberList"):
    """A page of members in join order: `{roomID, memberList: [{userID}], nextFlag}` ("" at the end)."""

    reply = RoomMemberListReply

    room_id: ID
    config: MemberQueryConfig = MemberQueryConfig()


class QueryRoomOnlineMemberCount(Request, tag="queryRoomOnlineMemberCount"):
    """The number of members: `{roomID, count}`."""

    reply = RoomMemberCountReply

    room_id: ID


class RoomAttributesSetConfig(Body, frozen=True):
    """`isForce` overwrites keys set by others; `isDeleteAfterOwnerLeft` deletes the keys
    when their owner leaves; `isUpdateOwner` makes the caller the owner of keys it overwrites."""

    is_force: bool = False
    is_delete_after_owner_left: bool = False
    is_update_owner: bool = False


class SetRoomAttributes(Request, tag="setRoomAttributes"):
    """Set room attributes (members only): `{roomID, errorKeys}` lists keys owned by others.

    Members get `roomAttributesUpdated {roomID, infos: [{action: 0, roomAttributes}]}`.
    """

    reply = RoomAttributesErrorReply

    room_id: ID
    room_attributes: Annotated[dict[AttributeKey, AttributeValue], msgspec.Meta(min_length=1, max_length=100)]
    config: RoomAttributesSetConfig = RoomAttributesSetConfig()


class RoomAttributesDeleteConfig(Body, frozen=True):
    """`isForce` deletes keys set by others."""

    is_force: bool = False


class DeleteRoomAttributes(Request, tag="deleteRoomAttributes"):
    """Delete room attributes (members only): `{roomID, errorKeys}` lists keys absent or owned by others.

    Members get `roomAttributesUpdated {roomID, infos: [{action: 1, roomAttributes: {key: ""}}]}`.
    """

    reply = RoomAttributesErrorReply

    room_id: ID
    keys: Annotated[list[AttributeKey], msgspec.Meta(min_length=1, max_length=100)]
    config: RoomAttributesDeleteConfig = RoomAttributesDeleteConfig()


class QueryRoomAllAttributes(Request, tag="queryRoomAllAttributes"):
    """Every room attribute (members only): `{roomID, roomAttributes}`."""

    reply = RoomAttributesReply

    room_id: ID


# ---- events (all ephemeral) -----------------------------------------------------


class RoomStateDetail(Body, frozen=True):
    """`extendedData` of roomStateChanged: `{"reason": "slow"}` for a dropped device, else `{}`."""

    reason: str | msgspec.UnsetType = msgspec.UNSET


class RoomStateChanged(Event, tag="roomStateChanged", frozen=True):
    """To the device that joined (state 2, event 4 create / 6 enter / 0 join), was replaced by another
    device of its user (state 0, event 10), was dropped for not reading its events (state 0, event 8,
    reason "slow"), or lost the room in a server restart (state 0, event 3)."""

    room_id: str
    state: int
    event: int
    extended_data: RoomStateDetail


class RoomMemberJoined(Event, tag="roomMemberJoined", frozen=True):
    """Members who joined since this device did. Batched: within 50 ms in small rooms, up to 3 s in
    rooms of thousands."""

    room_id: str
    member_list: list[UserRef]


class RoomMemberLeft(Event, tag="roomMemberLeft", frozen=True):
    """Members who left, dropped or disconnected; batched likewise."""

    room_id: str
    member_list: list[UserRef]


class RoomMessageReceived(Event, tag="roomMessageReceived", frozen=True):
    """A room message from another member."""

    message_list: list[Message]
    from_conversation_id: str


class RoomAttributesChange(Body, frozen=True):
    """`action` 0 set, 1 delete (deleted keys map to "")."""

    action: int
    room_attributes: dict[str, str]


class RoomAttributesUpdated(Event, tag="roomAttributesUpdated", frozen=True):
    """Attributes set or deleted, to every member."""

    room_id: str
    infos: list[RoomAttributesChange]
