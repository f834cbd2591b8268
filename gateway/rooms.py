"""Rooms on the gateway (PROTOCOL.md §10): routes to room actors, delivery to devices.

`install` registers the `room` actor kind, the room ops, room `sendMessage`
(conversationType 1) and a session-end hook that makes a dropped device
leave every room it sits in (the RoomIndex, which the room actors keep,
says which).

Slow members: a room event is offered to a device only while its outbound
queue is below three quarters of its size (`RoomDelivery`). A device past
that is behind on a live stream it can never catch up on, so the room drops
it with `roomStateChanged {state 0, event 8, extendedData {reason "slow"}}`
(queued in the last quarter, which stays free for it and for replies) and
the others see `roomMemberLeft`. The connection itself stays up; only when
the queue is completely full does the gateway close it (1013) as for any
other traffic.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from actors import wire as p
from actors.errors import InvalidArgument, NotInRoom, RoomNotExist
from actors.outbound import DeviceEvent, Outbound
from actors.room import Delivery, RoomActor, RoomContext, RoomIndex
from actors.room import messages as room
from actors.runtime import ActorError, ActorRef, Address, Asks
from actors.wire import builtins_of
from actors.wire import messages as pm
from actors.wire import rooms as pr

from .router import Result, _identity

if TYPE_CHECKING:
    from .devices import DeviceDirectory
    from .server import Gateway
    from .session import DeviceSession

R = TypeVar("R")

log = logging.getLogger("hubbub.rooms")


class RoomDelivery:
    """The gateway's RoomSink: the device directory, plus a look at each member's queue."""

    def __init__(self, directory: DeviceDirectory, soft_limit: int) -> None:
        self._directory = directory
        self.soft_limit = soft_limit  # queued frames past which a device is too slow for rooms

    def offer(self, session: Address, event: DeviceEvent) -> Delivery:
        queued = self._directory.queued(session)
        if queued is None:
            return Delivery.GONE
        if queued >= self.soft_limit:
            return Delivery.SLOW
        return Delivery.SENT if self._directory.push(session, event) else Delivery.GONE

    def push(self, session: Address, item: Outbound) -> bool:
        return self._directory.push(session, item)


@dataclass(frozen=True, slots=True)
class Rooms:
    """The rooms feature of one gateway: what the admin API and tests look at."""

    index: RoomIndex
    delivery: RoomDelivery
    context: RoomContext


_FEATURE: weakref.WeakKeyDictionary[Gateway, Rooms] = weakref.WeakKeyDictionary()


def install(gateway: Gateway) -> None:
    """Serve rooms on `gateway`: the actor kind, the ops, room messages, the end hook."""
    soft_limit = max(1, gateway.config.outbound_queue * 3 // 4)
    delivery = RoomDelivery(gateway.directory, soft_limit)
    index = RoomIndex()
    context = RoomContext(delivery, index, gateway.registry, node=gateway.config.node)
    gateway.registry.add_kind("room", partial(RoomActor, ctx=context))
    feature = _FEATURE[gateway] = Rooms(index, delivery, context)
    routes = _Routes(gateway, feature)
    gateway.router.add_routes(
        {
            pr.CreateRoom: routes.create,
            pr.EnterRoom: routes.enter,
            pr.JoinRoom: routes.join,
            pr.LeaveRoom: routes.leave,
            pr.QueryRoomMemberList: routes.query_members,
            pr.QueryRoomOnlineMemberCount: routes.query_count,
            pr.SetRoomAttributes: routes.set_attributes,
            pr.DeleteRoomAttributes: routes.delete_attributes,
            pr.QueryRoomAllAttributes: routes.query_attributes,
        }
    )
    gateway.router.send_handlers[1] = routes.send
    gateway.session_end_hooks.append(routes.session_ended)


def rooms_of(gateway: Gateway) -> Rooms:
    """The rooms feature installed on `gateway` (KeyError if it was not)."""
    return _FEATURE[gateway]


def list_rooms(gateway: Gateway) -> list[dict[str, Any]]:
    """Every room with its member count, by room ID (the admin API's GET /v1/rooms)."""
    counts = rooms_of(gateway).index.member_counts()
    return [{"roomID": room_id, "memberCount": count} for room_id, count in sorted(counts.items())]


async def describe_room(gateway: Gateway, room_id: str) -> dict[str, Any] | None:
    """One room with its members and attributes, or None if it does not exist.

    Asks the room actor (timeout: the config's ask_timeout_s; raises ActorError).
    """
    if room_id not in rooms_of(gateway).index:
        return None
    ref = gateway.registry.ref(Address("room", room_id))
    snapshot = await ref.ask(room.Inspect(), timeout=gateway.config.ask_timeout_s)
    return None if snapshot is None else _snapshot_json(snapshot)


def _snapshot_json(snapshot: room.RoomSnapshot) -> dict[str, Any]:
    """What the admin API shows of one room."""
    return {
        **builtins_of(snapshot.info),
        "memberCount": len(snapshot.members),
        "members": [{"userID": m.user_id, "loginID": m.login_id} for m in snapshot.members],
        "roomAttributes": dict(snapshot.attributes),
        "roomDestroyDelayTime": snapshot.destroy_delay_s,
        "destroyInSeconds": snapshot.destroy_in_s,
    }


class _Routes:
    def __init__(self, gateway: Gateway, feature: Rooms) -> None:
        self.gateway = gateway
        self.index = feature.index
        self.delivery = feature.delivery

    def _room(self, room_id: str) -> ActorRef[room.RoomMsg]:
        return self.gateway.registry.ref(Address("room", room_id))

    async def _ask(self, room_id: str, msg: Asks[R]) -> R:
        return await self._room(room_id).ask(msg, timeout=self.gateway.config.ask_timeout_s)

    def _member(self, session: DeviceSession) -> room.Member:
        user_id, login_id = _identity(session)
        return room.Member(user_id, login_id)

    def _seated(self, session: DeviceSession, room_id: str) -> room.Member:
        """The acting device, if it sits in the room; else 3003 without bothering the room."""
        member = self._member(session)
        if not self.index.has(room_id, member.login_id):
            raise NotInRoom(f"this device is not in room {room_id}")
        return member

    # ---- joining and leaving ----------------------------------------------------

    async def create(self, session: DeviceSession, req: pr.CreateRoom) -> Result:
        return await self._create(session, req.room_info, req.config, enter=False)

    async def enter(self, session: DeviceSession, req: pr.EnterRoom) -> Result:
        return await self._create(session, req.room_info, req.config, enter=True)

    async def _create(self, session: DeviceSession, info: pr.RoomInfoBody, config: pr.RoomAdvancedConfig, *, enter: bool) -> Result:
        member = self._member(session)
        msg = room.Create(
            member,
            info.room_name,
            tuple(config.room_attributes.items()),
            float(config.room_destroy_delay_time),
            enter=enter,
        )
        return pr.RoomInfoReply(room_info=await self._ask(info.room_id, msg))

    async def join(self, session: DeviceSession, req: pr.JoinRoom) -> Result:
        member = self._member(session)
        if req.room_id not in self.index:
            raise RoomNotExist(f"room {req.room_id} does not exist")
        return pr.RoomInfoReply(room_info=await self._ask(req.room_id, room.Join(member)))

    async def leave(self, session: DeviceSession, req: pr.LeaveRoom) -> Result:
        await self._ask(req.room_id, room.Leave(self._seated(session, req.room_id)))
        return pr.RoomIDReply(room_id=req.room_id)

    async def session_ended(self, session: DeviceSession) -> None:
        """A connection ended: its device leaves every room it sits in."""
        if session.user_id is None or session.login_id is None:
            return
        member = room.Member(session.user_id, session.login_id)
        for room_id in self.index.rooms_of(session.login_id):
            try:
                await self._room(room_id).tell(room.DeviceGone(member))
            except ActorError as exc:
                log.warning("room=%s user=%s login=%s could not leave: %s", room_id, member.user_id, member.login_id, exc)

    # ---- messages, queries, attributes --------------------------------------------

    async def send(self, session: DeviceSession, req: p.SendMessage) -> Result:
        if req.to_login_id is not None:
            raise InvalidArgument("toLoginID is for messages to one's own devices, not rooms")
        member = self._seated(session, req.to_conversation_id)
        body = req.message
        say = room.Say(member, body.type, body.message, body.extended_data, req.client_message_id)
        return pm.MessageReply(message=await self._ask(req.to_conversation_id, say))

    async def query_members(self, session: DeviceSession, req: pr.QueryRoomMemberList) -> Result:
        member = self._seated(session, req.room_id)
        query = room.QueryMembers(member, req.config.count, req.config.next_flag)
        page = await self._ask(req.room_id, query)
        members = [p.UserRef(user_id=user_id) for user_id in page.user_ids]
        return pr.RoomMemberListReply(room_id=req.room_id, member_list=members, next_flag=page.next_flag)

    async def query_count(self, session: DeviceSession, req: pr.QueryRoomOnlineMemberCount) -> Result:
        count = await self._ask(req.room_id, room.QueryOnlineCount(self._seated(session, req.room_id)))
        return pr.RoomMemberCountReply(room_id=req.room_id, count=count)

    async def set_attributes(self, session: DeviceSession, req: pr.SetRoomAttributes) -> Result:
        cfg = req.config
        msg = room.SetAttributes(
            self._seated(session, req.room_id),
            tuple(req.room_attributes.items()),
            cfg.is_force,
            cfg.is_delete_after_owner_left,
            cfg.is_update_owner,
        )
        refused = await self._ask(req.room_id, msg)
        return pr.RoomAttributesErrorReply(room_id=req.room_id, error_keys=list(refused))

    async def delete_attributes(self, session: DeviceSession, req: pr.DeleteRoomAttributes) -> Result:
        msg = room.DeleteAttributes(self._seated(session, req.room_id), tuple(req.keys), req.config.is_force)
        refused = await self._ask(req.room_id, msg)
        return pr.RoomAttributesErrorReply(room_id=req.room_id, error_keys=list(refused))

    async def query_attributes(self, session: DeviceSession, req: pr.QueryRoomAllAttributes) -> Result:
        attributes = await self._ask(req.room_id, room.QueryAttributes(self._seated(session, req.room_id)))
        return pr.RoomAttributesReply(room_id=req.room_id, room_attributes=attributes)
