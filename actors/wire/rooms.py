"""Wire schema of rooms (PROTOCOL.md §10): in-memory, live-only, one device per user.

Room messages use `sendMessage` with `conversationType` 1 (actors.wire.messages).
Joining, creating or entering replies `{"roomInfo": {roomID, roomName}}`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import ID, Request, ShortText, Body

MAX_DESTROY_DELAY_S = 3 * 3600
AttributeKey = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
AttributeValue = Annotated[str, msgspec.Meta(max_length=4096)]
Attributes = Annotated[dict[AttributeKey, AttributeValue], msgspec.Meta(max_length=100)]


class RoomInfoBody(Body, frozen=True):
    """`roomInfo`: the room's ID and display name."""

    room_id: ID
    room_name: ShortText = ""


class RoomAdvancedConfig(Body, frozen=True):
    """Applies only when the request creates the room."""

    room_attributes: Attributes = {}
    room_destroy_delay_time: Annotated[int, msgspec.Meta(ge=0, le=MAX_DESTROY_DELAY_S)] = 0


class CreateRoom(Request, tag="createRoom"):
    """Create a room and join it (event 4); an existing roomID gives 3001."""

    room_info: RoomInfoBody
    config: RoomAdvancedConfig = RoomAdvancedConfig()


class EnterRoom(Request, tag="enterRoom"):
    """Join a room, creating it first if absent (event 6)."""

    room_info: RoomInfoBody
    config: RoomAdvancedConfig = RoomAdvancedConfig()


class JoinRoom(Request, tag="joinRoom"):
    """Join an existing room (event 0); an absent room gives 3002.

    One device per user per room: if another device of the user is in the
    room, it gets `roomStateChanged {state 0, event 10}` and this one takes its
    place; other members see no leave or join.
    """

    room_id: ID


class LeaveRoom(Request, tag="leaveRoom"):
    """Leave a room; 3003 if this device is not in it. Others get roomMemberLeft."""

    room_id: ID


class MemberQueryConfig(Body, frozen=True):
    """Paging: `nextFlag` is "" for the first page, then what the previous page returned."""

    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 100
    next_flag: Annotated[str, msgspec.Meta(max_length=32)] = ""


class QueryRoomMemberList(Request, tag="queryRoomMemberList"):
    """A page of members in join order: `{roomID, memberList: [{userID}], nextFlag}` ("" at the end)."""

    room_id: ID
    config: MemberQueryConfig = MemberQueryConfig()


class QueryRoomOnlineMemberCount(Request, tag="queryRoomOnlineMemberCount"):
    """The number of members: `{roomID, count}`."""

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

    room_id: ID
    keys: Annotated[list[AttributeKey], msgspec.Meta(min_length=1, max_length=100)]
    config: RoomAttributesDeleteConfig = RoomAttributesDeleteConfig()


class QueryRoomAllAttributes(Request, tag="queryRoomAllAttributes"):
    """Every room attribute (members only): `{roomID, roomAttributes}`."""

    room_id: ID


EVENTS: dict[str, str] = {
    "roomStateChanged": (
        "roomID, state, event, extendedData: to the device that joined (state 2, event 4 create / 6 enter / 0 join), "
        "was replaced by another device of its user (state 0, event 10), was dropped for not reading its "
        "events (state 0, event 8, extendedData.reason \"slow\"), or lost the room in a server restart "
        "(state 0, event 3). Ephemeral."
    ),
    "roomMemberJoined": (
        "roomID, memberList [{userID}]: members who joined since this device did. Batched: within 50 ms in "
        "small rooms, up to 3 s in rooms of thousands. Ephemeral."
    ),
    "roomMemberLeft": "roomID, memberList [{userID}]: members who left, dropped or disconnected; batched likewise. Ephemeral.",
    "roomMessageReceived": "messageList [Message], fromConversationID: a room message from another member. Ephemeral.",
    "roomAttributesUpdated": "roomID, infos [{action: 0 set / 1 delete, roomAttributes}]: to every member. Ephemeral.",
}
