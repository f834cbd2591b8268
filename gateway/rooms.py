"""Rooms on the gateway (PROTOCOL.md §10): routes to room actors, delivery to devices.

`Rooms` registers the `room` actor kind and serves the room ops, room
`sendMessage` (conversationType 1) and a session-end hook that makes a dropped device
leave every room it sits in (the RoomIndex, which the room actors keep,
says which).

In a cluster the room actor may live on another node, and its state is the
only truth: the gateway asks it without checking this node's RoomIndex
first, and notes (LocalSeats) the rooms its own devices ask to get into, so
that a dropped device leaves them wherever they live. Events reach devices
on any node through the device directory. When a node leaves the cluster,
the rooms on the others drop its devices, and this node's devices in the
rooms whose actor lived there are told the room is gone, as after a room's
crash on a lone server (gateway/cluster.py).

Per-user room caps: the room actor checks them (`may_create`) just before
it creates itself, so entering a room that exists costs nothing, and on a
lone server check and creation have no checkpoint between them. In a
cluster a user's rooms may live on every node (a room lives where its ID
hashes), so the check asks every live node how many live rooms that user
created there and how many of those are empty (`AskCreatedRooms`). A node
that does not answer within `gather_timeout_s` is left out of the count
(logged): the caps bound what the live nodes hold. Two creations by one
user of rooms on two nodes at the same moment may both pass, so a user can
pass a cap by the creations they have under way at once, not more.

Slow members: a room event is offered to a device only while its outbound
queue is below three quarters of its size (`RoomDelivery`). A device past
that is behind on a live stream it can never catch up on, so the room drops
it with `roomStateChanged {state 0, event 8, extendedData {reason "slow"}}`
(queued in the last quarter, which stays free for it and for replies) and
the others see `roomMemberLeft`. The connection itself stays up; only when
the queue is completely full does the gateway close it (1013) as for any
other traffic. In a cluster the queue of a device on another node than
its room is judged on the device's node: the room's events travel there
with the room's ID (`RoomDelivery.arrived`), and that node, finding the
device behind, keeps the rest of the room's stream from it and tells the
room (`TooSlow`), which drops it the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol, TypeVar

from actors import wire as p
from actors.errors import InvalidArgument, NotInRoom, RoomNotExist
from actors.outbound import DeviceEvent, Outbound
from actors.room import Delivery, RoomActor, RoomContext, RoomIndex, room_gone_event
from actors.room import messages as room
from actors.ids import session_address
from actors.runtime import ActorError, ActorRef, Address, Asks
from actors.wire import builtins_of
from actors.wire import messages as pm
from actors.wire import rooms as pr

from .devices import DeviceDirectory
from .identity import Identity
from .local_seats import LocalSeats
from .node_asks import AskCreatedRooms, CreatedRooms, gather_timeout_s
from .services import Feature, Handler, Result, Services

R = TypeVar("R")

log = logging.getLogger("hubbub.rooms")

# Ask every live node (this one answers the callable): the answers by node, the nodes that did not answer.
GatherCreated = Callable[
    [AskCreatedRooms, Callable[[], CreatedRooms], float], Awaitable[tuple[dict[str, CreatedRooms], list[str]]]
]


# In a cluster: carry one room event to a session another node holds; False when that node cannot be reached.
PushRoomEvent = Callable[[Address, str, DeviceEvent], bool]


class RoomDelivery:
    """The gateway's RoomSink: the device directory, plus a look at each member's queue.

    The queue of a session another node holds is looked at on that node
    (`arrived`): a room event goes there with its room ID.
    """

    def __init__(self, directory: DeviceDirectory, soft_limit: int) -> None:
        self._directory = directory
        self.soft_limit = soft_limit  # queued frames past which a device is too slow for rooms
        self.elsewhere: PushRoomEvent | None = None  # in a cluster
        # this node's sessions found behind on a room elsewhere: the rest of that room's stream is not queued for them
        self._behind: dict[Address, set[str]] = {}

    def offer(self, session: Address, event: DeviceEvent, room_id: str) -> Delivery:
        if self.elsewhere is not None and not self._directory.holds(session):
            return Delivery.SENT if self.elsewhere(session, room_id, event) else Delivery.GONE
        return self._offer_here(session, event)

    def _offer_here(self, session: Address, item: DeviceEvent | bytes) -> Delivery:
        queued = self._directory.queued(session)
        if queued is None:
            return Delivery.GONE
        if queued >= self.soft_limit:
            return Delivery.SLOW
        return Delivery.SENT if self._directory.push_here(session, item) else Delivery.GONE

    def arrived(self, session: Address, room_id: str, frame: bytes) -> bool:
        """A room on another node sent an event for a session here; False if the session is behind (the room is to drop it).

        Once behind, the rest of that room's stream is not queued for it,
        until the device gets into the room again (`caught_up`).
        """
        behind = self._behind.get(session)
        if behind is not None and room_id in behind:
            return True  # the room was told already
        if self._offer_here(session, frame) is not Delivery.SLOW:
            return True
        self._behind.setdefault(session, set()).add(room_id)
        return False

    def caught_up(self, session: Address, room_id: str | None = None) -> None:
        """The device asks to get into `room_id` again (None: its session ended): its stream flows again."""
        behind = self._behind.get(session)
        if behind is None:
            return
        if room_id is None:
            del self._behind[session]
            return
        behind.discard(room_id)
        if not behind:
            del self._behind[session]

    def push(self, session: Address, item: Outbound) -> bool:
        return self._directory.push(session, item)


class _HasRooms(Protocol):
    @property
    def rooms(self) -> Rooms: ...


def rooms_of(gateway: _HasRooms) -> Rooms:
    """The rooms feature of `gateway`: what the admin API and tests look at."""
    return gateway.rooms


async def describe_room(gateway: _HasRooms, room_id: str) -> dict[str, Any] | None:
    """One room with its members and attributes, or None if it does not exist.

    Asks the room actor (timeout: the config's ask_timeout_s; raises ActorError).
    """
    rooms = rooms_of(gateway)
    if not rooms.services.clustered and room_id not in rooms.index:
        return None
    snapshot = await rooms.services.ask("room", room_id, room.Inspect())
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


class Rooms(Feature):
    """Rooms (§10): the room actor kind, the room ops, room sendMessage; a device that drops leaves its rooms."""

    def __init__(self, services: Services) -> None:
        self.services = services
        soft_limit = max(1, services.config.outbound_queue * 3 // 4)
        self.delivery = RoomDelivery(services.directory, soft_limit)
        self.index = RoomIndex()
        self.local = LocalSeats()  # in a cluster: the rooms this node's devices asked to get into
        self.count_elsewhere: GatherCreated | None = None  # in a cluster: asks every node (Cluster.gather)
        self.context = RoomContext(
            self.delivery, self.index, services.registry, node=services.config.node, may_create=self._may_create,
        )
        services.registry.add_kind("room", partial(RoomActor, ctx=self.context))

    def routes(self) -> dict[type[p.Request], Handler]:
        return {
            pr.CreateRoom: self.create,
            pr.EnterRoom: self.enter,
            pr.JoinRoom: self.join,
            pr.LeaveRoom: self.leave,
            pr.QueryRoomMemberList: self.query_members,
            pr.QueryRoomOnlineMemberCount: self.query_count,
            pr.SetRoomAttributes: self.set_attributes,
            pr.DeleteRoomAttributes: self.delete_attributes,
            pr.QueryRoomAllAttributes: self.query_attributes,
        }

    def send_handlers(self) -> dict[int, Handler]:
        return {1: self.send}

    def _room(self, room_id: str) -> ActorRef[room.RoomMsg]:
        return self.services.actor("room", room_id)

    async def _ask(self, room_id: str, msg: Asks[R]) -> R:
        return await self.services.ask("room", room_id, msg)

    def _member(self, identity: Identity) -> room.Member:
        return room.Member(identity.user_id, identity.login_id)

    def _seated(self, identity: Identity, room_id: str) -> room.Member:
        """The acting device, if it sits in the room; else 3003 without bothering the room."""
        member = self._member(identity)
        if not self.services.clustered and not self.index.has(room_id, member.login_id):
            raise NotInRoom(f"this device is not in room {room_id}")
        return member

    # ---- joining and leaving ----------------------------------------------------

    async def create(self, identity: Identity, req: pr.CreateRoom) -> Result:
        return await self._create(identity, req.room_info, req.config, enter=False)

    async def enter(self, identity: Identity, req: pr.EnterRoom) -> Result:
        return await self._create(identity, req.room_info, req.config, enter=True)

    async def _create(self, identity: Identity, info: pr.RoomInfoBody, config: pr.RoomAdvancedConfig, *, enter: bool) -> Result:
        member = self._member(identity)
        self._note(member, info.room_id)
        msg = room.Create(
            member,
            info.room_name,
            tuple(config.room_attributes.items()),
            float(config.room_destroy_delay_time),
            enter=enter,
        )
        return pr.RoomInfoReply(room_info=await self._ask(info.room_id, msg))

    def _note(self, member: room.Member, room_id: str) -> None:
        """In a cluster, note the room before asking to get in: a drop meanwhile still leaves it."""
        if self.services.clustered:
            self.local.note(member.login_id, room_id)
            self.delivery.caught_up(session_address(member.login_id), room_id)

    async def room_event_arrived(self, session: Address, room_id: str, frame: bytes) -> None:
        """An event of a room on another node for a session here: queued, unless the session is too far behind for rooms.

        A session that is behind is dropped from the room (it tells the
        room, which answers it `roomStateChanged` slow) and stays connected.
        """
        if self.delivery.arrived(session, room_id, frame):
            return
        log.info("room=%s login=%s behind on the room's events here: the room drops it", room_id, session.key)
        try:
            await self._room(room_id).tell(room.TooSlow(session.key))
        except ActorError as exc:
            log.warning("room=%s login=%s could not be dropped as slow: %s", room_id, session.key, exc)

    def created_here(self, user_id: str) -> CreatedRooms:
        """What this node holds of the live rooms `user_id` created."""
        created, lingering = self.index.created_by(user_id)
        return CreatedRooms(created, lingering)

    async def _created_everywhere(self, user_id: str) -> CreatedRooms:
        """`created_here` summed over this node and every live node that answers in time (a lone server: no await)."""
        here = partial(self.created_here, user_id)
        if self.count_elsewhere is None:
            return here()
        timeout_s = gather_timeout_s(self.services.config.ask_timeout_s)
        answers, silent = await self.count_elsewhere(AskCreatedRooms(user_id), here, timeout_s)
        if silent:
            log.warning("user=%s room caps counted without nodes %s (no answer)", user_id, ",".join(silent))
        return CreatedRooms(sum(a.created for a in answers.values()), sum(a.lingering for a in answers.values()))

    async def _may_create(self, user_id: str) -> None:
        """Refuse a new room (1003) to a user at the cap of live rooms or of empty rooms they created (on every node)."""
        config = self.services.config
        counts = await self._created_everywhere(user_id)
        created, lingering = counts.created, counts.lingering
        if created >= config.max_rooms_per_user:
            self.services.accounts.stats["rooms_refused"] += 1
            raise InvalidArgument(f"this user created {created} live rooms, the most this server allows ({config.max_rooms_per_user})")
        if lingering >= config.max_lingering_rooms_per_user:
            self.services.accounts.stats["rooms_refused"] += 1
            raise InvalidArgument(
                f"{lingering} empty rooms this user created are waiting for their destroy delay, the most this server allows"
                f" ({config.max_lingering_rooms_per_user}): enter one again or wait"
            )

    async def join(self, identity: Identity, req: pr.JoinRoom) -> Result:
        member = self._member(identity)
        if not self.services.clustered and req.room_id not in self.index:
            raise RoomNotExist(f"room {req.room_id} does not exist")
        self._note(member, req.room_id)
        return pr.RoomInfoReply(room_info=await self._ask(req.room_id, room.Join(member)))

    async def leave(self, identity: Identity, req: pr.LeaveRoom) -> Result:
        await self._ask(req.room_id, room.Leave(self._seated(identity, req.room_id)))
        self.local.forget(identity.login_id, req.room_id)
        return pr.RoomIDReply(room_id=req.room_id)

    async def session_ended(self, identity: Identity) -> None:
        """A connection ended: its device leaves every room it sits in."""
        member = self._member(identity)
        self.delivery.caught_up(session_address(identity.login_id))
        room_ids = set(self.index.rooms_of(identity.login_id)) | self.local.ended(identity.login_id)
        for room_id in sorted(room_ids):
            try:
                await self._room(room_id).tell(room.DeviceGone(member))
            except ActorError as exc:
                log.warning("room=%s user=%s login=%s could not leave: %s", room_id, member.user_id, member.login_id, exc)

    def actors_lost(self, lost: Callable[[Address], bool]) -> None:
        """Actors died with their node (`lost` names them): this node's devices in those rooms are told they are gone."""
        for login_id, room_id in self.local.take_where(lambda room_id: lost(Address("room", room_id))):
            self.services.directory.push(session_address(login_id), room_gone_event(room_id))
            log.warning("room=%s login=%s lost with its owner node: told it the room is gone", room_id, login_id)

    # ---- messages, queries, attributes --------------------------------------------

    async def send(self, identity: Identity, req: p.SendMessage) -> Result:
        if req.to_login_id is not None:
            raise InvalidArgument("toLoginID is for messages to one's own devices, not rooms")
        member = self._seated(identity, req.to_conversation_id)
        body = req.message
        say = room.Say(member, body.type, body.message, body.extended_data, req.client_message_id)
        return pm.MessageReply(message=await self._ask(req.to_conversation_id, say))

    async def query_members(self, identity: Identity, req: pr.QueryRoomMemberList) -> Result:
        member = self._seated(identity, req.room_id)
        query = room.QueryMembers(member, req.config.count, req.config.next_flag)
        page = await self._ask(req.room_id, query)
        members = [p.UserRef(user_id=user_id) for user_id in page.user_ids]
        return pr.RoomMemberListReply(room_id=req.room_id, member_list=members, next_flag=page.next_flag)

    async def query_count(self, identity: Identity, req: pr.QueryRoomOnlineMemberCount) -> Result:
        count = await self._ask(req.room_id, room.QueryOnlineCount(self._seated(identity, req.room_id)))
        return pr.RoomMemberCountReply(room_id=req.room_id, count=count)

    async def set_attributes(self, identity: Identity, req: pr.SetRoomAttributes) -> Result:
        cfg = req.config
        msg = room.SetAttributes(
            self._seated(identity, req.room_id),
            tuple(req.room_attributes.items()),
            cfg.is_force,
            cfg.is_delete_after_owner_left,
            cfg.is_update_owner,
        )
        refused = await self._ask(req.room_id, msg)
        return pr.RoomAttributesErrorReply(room_id=req.room_id, error_keys=list(refused))

    async def delete_attributes(self, identity: Identity, req: pr.DeleteRoomAttributes) -> Result:
        msg = room.DeleteAttributes(self._seated(identity, req.room_id), tuple(req.keys), req.config.is_force)
        refused = await self._ask(req.room_id, msg)
        return pr.RoomAttributesErrorReply(room_id=req.room_id, error_keys=list(refused))

    async def query_attributes(self, identity: Identity, req: pr.QueryRoomAllAttributes) -> Result:
        attributes = await self._ask(req.room_id, room.QueryAttributes(self._seated(identity, req.room_id)))
        return pr.RoomAttributesReply(room_id=req.room_id, room_attributes=attributes)
