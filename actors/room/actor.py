"""RoomActor: one live room (PROTOCOL.md §10) — members, attributes, timers.

Rooms live in memory only. Members are devices, at most one per user: a user
joining from a second device moves the seat there and the first device gets
`roomStateChanged` event 10; the others see nothing. A message repeating
a sender's `clientMessageID` (PROTOCOL.md §4: within 24 h; here among the
room's last REMEMBERED_SENDS keyed sends) gets the original reply and is not
sent again.

Fan-out never blocks. Each event is encoded once (DeviceEvent) and offered to
every member's session through the RoomSink without waiting. A member whose
outbound queue is already well filled is `SLOW`: the room drops it, tells it
`roomStateChanged {state: 0, event: 8, extendedData: {reason: "slow"}}`
(there is still room in its queue for that) and tells the others
`roomMemberLeft`. A member whose session is gone is dropped the same way.
Drops are applied after the event in hand reached everyone else. In a
cluster a member's session may be on another node: that node judges its
queue, keeps the rest of the room's stream from it once it is behind, and
tells the room (`TooSlow`), which drops it the same way.

Member joins and leaves are announced in batches: every member must hear of
every join, so a join storm in a room of N members costs N frames per
announcement. The batching window grows with the room (N /
MEMBER_EVENT_FRAMES_PER_S seconds, from MEMBER_BATCH_S up to
MEMBER_BATCH_MAX_S), which keeps member-event frames near that many per
second per room whatever its size; big rooms get fewer, longer
`memberList`s. Pending announcements are flushed before any other event of
the room, so every member sees the room's events in the order they happened,
and each member hears only of changes made after it joined.

A room about to create itself for a user first awaits `ctx.may_create`
(the per-user room caps, which in a cluster count the rooms of every node);
its refusal answers the Create and the room stays absent. Only a real
creation pays for it: entering a room that exists checks nothing.

Timers (destruction delay, batching window) are small tasks in the nursery
that runs the actor, each in a cancel scope the actor holds and cancels in
`stop()`; they only ever `tell` the actor, which checks whether the reason to
wake still holds.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice, takewhile
from typing import Any, Protocol, assert_never

import msgspec
import trio

from ..errors import InvalidArgument, NotInRoom, RoomExists, RoomNotExist
from ..ids import IDEMPOTENCY_WINDOW_MS, node_of_login, now_ms, session_address
from ..outbound import DeviceEvent, Outbound
from ..runtime import Actor, ActorRef, Address, Reply, Timer, Transport, answer
from ..wire import Event, UserRef
from ..wire import rooms as w
from ..wire.messages import Message
from .messages import (
    Create,
    DeleteAttributes,
    DestroyDue,
    DeviceGone,
    FlushDue,
    Inspect,
    Join,
    Leave,
    Member,
    MemberPage,
    NodesLeft,
    QueryAttributes,
    QueryMembers,
    QueryOnlineCount,
    RoomInfo,
    RoomMsg,
    RoomSnapshot,
    Say,
    SetAttributes,
    TooSlow,
)

log = logging.getLogger("hubbub.room")

MAX_DESTROY_DELAY_S = 3 * 3600  # PROTOCOL.md §10: up to 3 hours
MAX_ATTRIBUTES = 100  # keys per room: attributes ride in every attribute event and query
REMEMBERED_SENDS = 4096  # (sender, clientMessageID) pairs a room remembers to answer repeats
MEMBER_BATCH = 1000  # member changes named in one event at most (about 25 KB of CBOR)
MEMBER_BATCH_S = 0.05  # batching window of small rooms
MEMBER_BATCH_MAX_S = 3.0  # batching window of the biggest rooms
MEMBER_EVENT_FRAMES_PER_S = 2000  # member-event frames per second one room aims to stay under


class RoomState(enum.IntEnum):
    DISCONNECTED = 0
    CONNECTED = 2


class RoomEvent(enum.IntEnum):
    SUCCESS = 0
    ROOM_NOT_EXIST = 3
    ACTIVE_CREATE = 4
    ACTIVE_ENTER = 6
    KICKED_OUT = 8
    KICKED_OUT_BY_OTHER_DEVICE = 10


class Delivery(enum.Enum):
    """What became of one event offered to one member's session."""

    SENT = "sent"
    SLOW = "slow"  # the session's queue is too full for ephemeral room traffic
    GONE = "gone"  # the session is closed or closing


class RoomSink(Protocol):
    """How a room reaches member sessions (the gateway implements it). Never blocks."""

    def offer(self, session: Address, event: DeviceEvent, room_id: str) -> Delivery:
        """Queue an ephemeral event of room `room_id` unless the session is gone or behind.

        A session another node holds is judged there: SENT here, and that
        node tells the room (TooSlow) if the session is behind.
        """
        ...

    def push(self, session: Address, item: Outbound) -> bool:
        """Queue a control event for one session (DeviceSink.push semantics)."""
        ...


class RoomIndex:
    """Which rooms exist and which rooms each login sits in.

    Room actors write it, synchronously, as their state changes; the gateway
    only reads it (to leave a dropped device's rooms, to list rooms, and to
    refuse joins of absent rooms without spawning an actor).
    """

    def __init__(self) -> None:
        self._rooms: dict[str, set[str]] = {}
        self._by_login: dict[str, set[str]] = {}
        self._creator: dict[str, str] = {}  # room -> the user who created it
        self._by_creator: dict[str, set[str]] = {}  # user -> the live rooms they created
        self._lingering: dict[str, set[str]] = {}  # user -> those of them empty, waiting for their destroy delay

    def created(self, room_id: str, creator: str) -> None:
        self._rooms.setdefault(room_id, set())
        self._creator[room_id] = creator
        self._by_creator.setdefault(creator, set()).add(room_id)

    def lingering(self, room_id: str, empty: bool) -> None:
        """The room went empty and waits for its destroy delay (`empty`), or was entered again."""
        creator = self._creator.get(room_id)
        if creator is None:
            return
        if empty:
            self._lingering.setdefault(creator, set()).add(room_id)
        else:
            _discard(self._lingering, creator, room_id)

    def created_by(self, user_id: str) -> tuple[int, int]:
        """How many live rooms `user_id` created, and how many of those are empty (their cost caps)."""
        return len(self._by_creator.get(user_id, ())), len(self._lingering.get(user_id, ()))

    def destroyed(self, room_id: str) -> set[str]:
        """Forget the room; returns the logins the index still had in it."""
        if (creator := self._creator.pop(room_id, None)) is not None:
            _discard(self._by_creator, creator, room_id)
            _discard(self._lingering, creator, room_id)
        logins = self._rooms.pop(room_id, set())
        for login_id in logins:
            self._unlink(login_id, room_id)
        return logins

    def joined(self, room_id: str, login_id: str) -> None:
        self._rooms.setdefault(room_id, set()).add(login_id)
        self._by_login.setdefault(login_id, set()).add(room_id)

    def left(self, room_id: str, login_id: str) -> None:
        self._rooms.get(room_id, set()).discard(login_id)
        self._unlink(login_id, room_id)

    def rooms_of(self, login_id: str) -> tuple[str, ...]:
        return tuple(self._by_login.get(login_id, ()))

    def has(self, room_id: str, login_id: str) -> bool:
        """Whether the login holds a seat in the room."""
        return login_id in self._rooms.get(room_id, ())

    def member_counts(self) -> dict[str, int]:
        """Room ID -> number of members, for every existing room."""
        return {room_id: len(logins) for room_id, logins in self._rooms.items()}

    def __contains__(self, room_id: object) -> bool:
        return room_id in self._rooms

    def __len__(self) -> int:
        return len(self._rooms)

    def _unlink(self, login_id: str, room_id: str) -> None:
        _discard(self._by_login, login_id, room_id)


def _discard(sets: dict[str, set[str]], key: str, room_id: str) -> None:
    """Take `room_id` out of `sets[key]`, dropping the set once empty."""
    rooms = sets.get(key)
    if rooms is not None:
        rooms.discard(room_id)
        if not rooms:
            del sets[key]


@dataclass(slots=True)
class RoomContext:
    """What every room actor shares: the sink to devices, the index, the runtime."""

    sink: RoomSink
    index: RoomIndex
    transport: Transport  # to tell a room itself when one of its timers runs out
    node: str = "local"
    stats: Counter[str] = field(default_factory=Counter)
    # awaited before a room creates itself for a user: raises a refusal (1003) when the user is at a cap
    may_create: Callable[[str], Awaitable[None]] | None = None


@dataclass(slots=True, eq=False)
class _Seat:
    """One member: the user and the device that currently holds its seat."""

    user_id: str
    login_id: str
    session: Address
    join_seq: int
    dropped: Delivery | None = None  # set when a fan-out found it slow or gone


@dataclass(slots=True)
class _Attribute:
    value: str
    owner: str
    delete_after_owner_left: bool


@dataclass(frozen=True, slots=True)
class _Change:
    joined: bool
    user_id: str
    seq: int


class RoomActor(Actor[RoomMsg]):
    """One live room: members (one device per user), attributes, destruction timer."""

    def __init__(self, address: Address, ctx: RoomContext) -> None:
        super().__init__(address)
        self.room_id = address.key
        self.ctx = ctx
        self.info: RoomInfo | None = None  # None: the room does not exist
        self.seats: dict[str, _Seat] = {}  # by user ID, in join order
        self.attributes: dict[str, _Attribute] = {}
        self.destroy_delay_s = 0.0
        self.destroy_at: float | None = None
        self._seq = 0  # numbers joins and leaves, so members hear only of later changes
        self._message_seq = 0
        # (sender, clientMessageID) -> (when, the reply): a repeat is answered, not sent again
        self._recent_sends: OrderedDict[tuple[str, str], tuple[int, Message]] = OrderedDict()
        self._pending: list[_Change] = []
        self._to_drop: deque[_Seat] = deque()
        self._destroy_timer = Timer()
        self._flush_timer = Timer()
        self._ref: ActorRef[RoomMsg] = ActorRef(address, ctx.transport)

    async def start(self) -> None:
        # A fresh actor knows no members. If an earlier one crashed with members
        # in the room, their devices would wait forever: tell them it is gone.
        for login_id in self.ctx.index.destroyed(self.room_id):
            self.ctx.sink.push(session_address(login_id), room_gone_event(self.room_id))
            log.warning("room=%s login=%s lost in a restart: told it the room is gone", self.room_id, login_id)

    async def stop(self) -> None:
        self._destroy_timer.cancel()
        self._flush_timer.cancel()

    def idle(self) -> bool:
        return self.info is None

    async def handle(self, msg: RoomMsg, reply: Reply[Any] | None) -> None:
        try:
            if isinstance(msg, Create) and self.info is None and self.ctx.may_create is not None:
                await self.ctx.may_create(msg.member.user_id)
            self._dispatch(msg, reply)
        finally:
            self._settle()

    def _dispatch(self, msg: RoomMsg, reply: Reply[Any] | None) -> None:
        match msg:
            case Create():
                answer(reply, msg, self._create(msg))
            case Join():
                answer(reply, msg, self._admit(msg.member, RoomEvent.SUCCESS))
            case Leave():
                self._remove(self._seat_of(msg.member), "leave")
                answer(reply, msg, None)
            case DeviceGone():
                self._device_gone(msg.member)
            case Say():
                answer(reply, msg, self._say(msg))
            case QueryMembers():
                answer(reply, msg, self._query_members(msg))
            case QueryOnlineCount():
                self._seat_of(msg.member)
                answer(reply, msg, len(self.seats))
            case SetAttributes():
                answer(reply, msg, self._set_attributes(msg))
            case DeleteAttributes():
                answer(reply, msg, self._delete_attributes(msg))
            case QueryAttributes():
                self._seat_of(msg.member)
                answer(reply, msg, {key: a.value for key, a in self.attributes.items()})
            case Inspect():
                answer(reply, msg, self._snapshot())
            case DestroyDue():
                self._destroy_if_due()
            case FlushDue():
                self._flush_members()
            case NodesLeft():
                self._nodes_left(set(msg.nodes))
            case TooSlow():
                self._too_slow(msg.login_id)
            case _:
                assert_never(msg)

    # ---- membership -----------------------------------------------------------

    def _create(self, msg: Create) -> RoomInfo:
        if self.info is not None:
            if not msg.enter:
                raise RoomExists(f"room {self.room_id} already exists")
            return self._admit(msg.member, RoomEvent.ACTIVE_ENTER)
        if not 0 <= msg.destroy_delay_s <= MAX_DESTROY_DELAY_S:
            raise InvalidArgument(f"roomDestroyDelayTime must be 0-{MAX_DESTROY_DELAY_S} s")
        if len(msg.attributes) > MAX_ATTRIBUTES:
            raise InvalidArgument(f"a room holds at most {MAX_ATTRIBUTES} attributes")
        self.info = RoomInfo(self.room_id, msg.room_name)
        owner = msg.member.user_id
        self.attributes = {key: _Attribute(value, owner, False) for key, value in msg.attributes}
        self.destroy_delay_s = msg.destroy_delay_s
        self.ctx.index.created(self.room_id, owner)
        self.ctx.stats["rooms_created"] += 1
        log.info("room=%s user=%s login=%s created destroy_delay=%ss", self.room_id, owner, msg.member.login_id, msg.destroy_delay_s)
        return self._admit(msg.member, RoomEvent.ACTIVE_ENTER if msg.enter else RoomEvent.ACTIVE_CREATE)

    def _admit(self, member: Member, event: RoomEvent) -> RoomInfo:
        if self.info is None:
            raise RoomNotExist(f"room {self.room_id} does not exist")
        seat = self.seats.get(member.user_id)
        session = session_address(member.login_id)
        if seat is None:
            self._seq += 1
            self.seats[member.user_id] = _Seat(member.user_id, member.login_id, session, self._seq)
            self.ctx.index.joined(self.room_id, member.login_id)
            self._note(_Change(True, member.user_id, self._seq))
            log.debug("room=%s user=%s login=%s joined (%d members)", self.room_id, member.user_id, member.login_id, len(self.seats))
        elif seat.login_id != member.login_id:
            self._move_seat(seat, member.login_id, session)
        self.destroy_at = None
        self._destroy_timer.cancel()
        self.ctx.index.lingering(self.room_id, False)
        if not self.ctx.sink.push(session, _state_event(self.room_id, RoomState.CONNECTED, event)):
            # The session ended while its join waited in the inbox, after its
            # end hook looked for rooms to leave: leave for it.
            self._mark_dropped(self.seats[member.user_id], Delivery.GONE)
        return self.info

    def _move_seat(self, seat: _Seat, login_id: str, session: Address) -> None:
        """One device per user per room: the new device takes the seat, silently for others."""
        old_login, old_session = seat.login_id, seat.session
        seat.login_id, seat.session, seat.dropped = login_id, session, None
        self.ctx.index.left(self.room_id, old_login)
        self.ctx.index.joined(self.room_id, login_id)
        evicted = _state_event(self.room_id, RoomState.DISCONNECTED, RoomEvent.KICKED_OUT_BY_OTHER_DEVICE)
        self.ctx.sink.push(old_session, evicted)
        self.ctx.stats["room_seat_moves"] += 1
        log.info("room=%s user=%s login=%s took the seat of login=%s", self.room_id, seat.user_id, login_id, old_login)

    def _seat_of(self, member: Member) -> _Seat:
        """The member's seat if this very device holds it; else 3003 (a room that does not exist has no seats).

        The same code a lone server's gateway answers before it asks the room
        (gateway/rooms.py `_seated`); a cluster node asks the room, wherever it lives.
        """
        seat = self.seats.get(member.user_id)
        if seat is None or seat.login_id != member.login_id or seat.dropped is not None:
            raise NotInRoom(f"this device is not in room {self.room_id}")
        return seat

    def _device_gone(self, member: Member) -> None:
        seat = self.seats.get(member.user_id)
        if seat is not None and seat.login_id == member.login_id:
            self._remove(seat, "dropped")

    def _too_slow(self, login_id: str) -> None:
        """The device's own node found it behind on the room's traffic: dropped as slow, as a fan-out here would."""
        seat = next((s for s in self.seats.values() if s.login_id == login_id), None)
        if seat is not None and seat.dropped is None:
            self._mark_dropped(seat, Delivery.SLOW)

    def _nodes_left(self, nodes: set[str]) -> None:
        """The devices those nodes served are gone: their seats go, the others see roomMemberLeft."""
        for seat in list(self.seats.values()):
            if node_of_login(seat.login_id) in nodes:
                self._remove(seat, "node left")

    def _remove(self, seat: _Seat, reason: str) -> None:
        del self.seats[seat.user_id]
        self.ctx.index.left(self.room_id, seat.login_id)
        self._seq += 1
        self._note(_Change(False, seat.user_id, self._seq))
        log.debug("room=%s user=%s login=%s left reason=%s (%d members)", self.room_id, seat.user_id, seat.login_id, reason, len(self.seats))
        self._owner_left(seat.user_id)
        if not self.seats:
            self._emptied()

    def _settle(self) -> None:
        """Drop the members a fan-out found slow or gone (which may find more)."""
        while self._to_drop:
            seat = self._to_drop.popleft()
            if self.seats.get(seat.user_id) is not seat:
                continue
            if seat.dropped is Delivery.SLOW:
                kicked = _state_event(self.room_id, RoomState.DISCONNECTED, RoomEvent.KICKED_OUT, reason="slow")
                self.ctx.sink.push(seat.session, kicked)
                self.ctx.stats["room_slow_drops"] += 1
                log.warning("room=%s user=%s login=%s too slow for the room: dropped", self.room_id, seat.user_id, seat.login_id)
            self._remove(seat, "slow" if seat.dropped is Delivery.SLOW else "gone")

    # ---- destruction ----------------------------------------------------------

    def _emptied(self) -> None:
        self._pending.clear()
        self._flush_timer.cancel()
        if self.destroy_delay_s <= 0:
            self._destroy()
            return
        self.destroy_at = trio.current_time() + self.destroy_delay_s
        self._destroy_timer.arm(self.destroy_at, self._ref, DestroyDue())
        self.ctx.index.lingering(self.room_id, True)
        log.info("room=%s empty: destroyed in %ss unless someone joins", self.room_id, self.destroy_delay_s)

    def _destroy_if_due(self) -> None:
        due = self.destroy_at is not None and trio.current_time() >= self.destroy_at
        if self.info is not None and not self.seats and due:
            self._destroy()

    def _destroy(self) -> None:
        self.ctx.index.destroyed(self.room_id)
        self.ctx.stats["rooms_destroyed"] += 1
        self.info, self.attributes, self.destroy_at = None, {}, None
        self._message_seq = 0
        self._recent_sends.clear()
        self._destroy_timer.cancel()
        log.info("room=%s destroyed", self.room_id)

    # ---- messages and queries -------------------------------------------------

    def _say(self, msg: Say) -> Message:
        seat = self._seat_of(msg.member)
        key = None if msg.client_message_id is None else (seat.user_id, msg.client_message_id)
        if key is not None and (earlier := self._earlier_send(key)) is not None:
            return earlier
        self._message_seq += 1
        sent_at = now_ms()
        message = Message(
            message_id=f"{self.ctx.node}-{secrets.token_hex(8)}",
            client_message_id=msg.client_message_id,
            conversation_id=self.room_id,
            conversation_type=1,
            sender_user_id=seat.user_id,
            type=msg.type,
            message=msg.message,
            extended_data=msg.extended_data,
            timestamp=sent_at,
            message_seq=self._message_seq,
            direction=1,
            receipt_status=0,
            is_revoked=False,
        )
        self._broadcast(w.RoomMessageReceived([message], self.room_id), skip=seat)
        self.ctx.stats["room_messages"] += 1
        reply = msgspec.structs.replace(message, direction=0)
        if key is not None:
            self._recent_sends[key] = (sent_at, reply)
            if len(self._recent_sends) > REMEMBERED_SENDS:
                self._recent_sends.popitem(last=False)
        return reply

    def _earlier_send(self, key: tuple[str, str]) -> Message | None:
        """The reply to an earlier send with this (sender, clientMessageID), within the idempotency window."""
        found = self._recent_sends.get(key)
        if found is None:
            return None
        when, reply = found
        if now_ms() - when > IDEMPOTENCY_WINDOW_MS:
            del self._recent_sends[key]
            return None
        self.ctx.stats["room_repeats"] += 1
        return reply

    def _query_members(self, msg: QueryMembers) -> MemberPage:
        self._seat_of(msg.member)
        if msg.next_flag and not msg.next_flag.isdigit():
            raise InvalidArgument("nextFlag must be one a previous page returned")
        after = int(msg.next_flag or 0)
        later = (seat for seat in self.seats.values() if seat.join_seq > after)
        page = list(islice(later, msg.count + 1))
        more = len(page) > msg.count
        page = page[: msg.count]
        next_flag = str(page[-1].join_seq) if more else ""
        return MemberPage(tuple(seat.user_id for seat in page), next_flag)

    def _snapshot(self) -> RoomSnapshot | None:
        if self.info is None:
            return None
        members = tuple(Member(s.user_id, s.login_id) for s in self.seats.values())
        attributes = tuple((key, a.value) for key, a in self.attributes.items())
        destroy_in = None if self.destroy_at is None else max(0.0, self.destroy_at - trio.current_time())
        return RoomSnapshot(self.info, members, attributes, self.destroy_delay_s, destroy_in)

    # ---- attributes -----------------------------------------------------------

    def _set_attributes(self, msg: SetAttributes) -> tuple[str, ...]:
        seat = self._seat_of(msg.member)
        new_keys = {key for key, _ in msg.attributes if key not in self.attributes}
        if len(self.attributes) + len(new_keys) > MAX_ATTRIBUTES:
            raise InvalidArgument(f"a room holds at most {MAX_ATTRIBUTES} attributes")
        refused: list[str] = []
        changed: dict[str, str] = {}
        for key, value in msg.attributes:
            current = self.attributes.get(key)
            if current is not None and current.owner != seat.user_id and not msg.is_force:
                refused.append(key)
                continue
            keep_owner = current is not None and not msg.is_update_owner
            owner = current.owner if keep_owner and current is not None else seat.user_id
            self.attributes[key] = _Attribute(value, owner, msg.is_delete_after_owner_left)
            changed[key] = value
        if changed:
            self._attributes_updated(0, changed)
        return tuple(refused)

    def _delete_attributes(self, msg: DeleteAttributes) -> tuple[str, ...]:
        seat = self._seat_of(msg.member)
        refused: list[str] = []
        deleted: dict[str, str] = {}
        for key in msg.keys:
            current = self.attributes.get(key)
            if current is None or (current.owner != seat.user_id and not msg.is_force):
                refused.append(key)
                continue
            del self.attributes[key]
            deleted[key] = ""
        if deleted:
            self._attributes_updated(1, deleted)
        return tuple(refused)

    def _owner_left(self, user_id: str) -> None:
        gone = [key for key, a in self.attributes.items() if a.owner == user_id and a.delete_after_owner_left]
        for key in gone:
            del self.attributes[key]
        if gone and self.seats:
            self._attributes_updated(1, dict.fromkeys(gone, ""))

    def _attributes_updated(self, action: int, attributes: dict[str, str]) -> None:
        info = w.RoomAttributesChange(action=action, room_attributes=attributes)
        self._broadcast(w.RoomAttributesUpdated(self.room_id, [info]))

    # ---- fan-out --------------------------------------------------------------

    def _broadcast(self, wire_event: Event, skip: _Seat | None = None) -> None:
        """One event to every member but `skip`, after the pending member changes."""
        self._flush_members()
        event = DeviceEvent(wire_event)
        seats: Iterable[_Seat] = self.seats.values()
        if skip is not None:
            seats = (seat for seat in seats if seat is not skip)
        self._deliver(event, seats)

    def _deliver(self, event: DeviceEvent, seats: Iterable[_Seat]) -> None:
        """Offer `event` to each seat without blocking; slow or gone seats are marked to drop."""
        offer = self.ctx.sink.offer
        sent = 0
        for seat in seats:
            if seat.dropped is not None:
                continue
            outcome = offer(seat.session, event, self.room_id)
            if outcome is Delivery.SENT:
                sent += 1
            else:
                self._mark_dropped(seat, outcome)
        self.ctx.stats["room_deliveries"] += sent

    def _mark_dropped(self, seat: _Seat, why: Delivery) -> None:
        """The seat goes once the event in hand reached everyone else (see _settle)."""
        seat.dropped = why
        self._to_drop.append(seat)

    def _note(self, change: _Change) -> None:
        self._pending.append(change)
        if len(self._pending) >= MEMBER_BATCH:
            self._flush_members()
        elif len(self._pending) == 1:
            window_s = min(MEMBER_BATCH_MAX_S, max(MEMBER_BATCH_S, len(self.seats) / MEMBER_EVENT_FRAMES_PER_S))
            self._flush_timer.arm(trio.current_time() + window_s, self._ref, FlushDue())

    def _flush_members(self) -> None:
        """Announce the pending joins and leaves, one event per run of the same kind."""
        if not self._pending:
            return
        self._flush_timer.cancel()
        pending, self._pending = self._pending, []
        start = 0
        for end in range(1, len(pending) + 1):
            if end == len(pending) or pending[end].joined != pending[start].joined:
                self._announce(pending[start:end])
                start = end

    def _announce(self, run: list[_Change]) -> None:
        """One run of joins (or leaves): members older than the run hear all of it,
        members who joined during or after it hear only the later part."""
        kind: type[w.RoomMemberJoined | w.RoomMemberLeft] = w.RoomMemberJoined if run[0].joined else w.RoomMemberLeft
        first_seq = run[0].seq
        newer = list(takewhile(lambda seat: seat.join_seq >= first_seq, reversed(self.seats.values())))
        older = takewhile(lambda seat: seat.join_seq < first_seq, self.seats.values())
        self._deliver(self._member_event(kind, run), older)
        for seat in reversed(newer):
            tail = [change for change in run if change.seq > seat.join_seq]
            if tail:
                self._deliver(self._member_event(kind, tail), (seat,))

    def _member_event(self, kind: type[w.RoomMemberJoined | w.RoomMemberLeft], changes: list[_Change]) -> DeviceEvent:
        return DeviceEvent(kind(self.room_id, [UserRef(user_id=change.user_id) for change in changes]))


def room_gone_event(room_id: str) -> DeviceEvent:
    """`roomStateChanged {state 0, event 3}`: the room a device sat in is gone (its actor was lost)."""
    return _state_event(room_id, RoomState.DISCONNECTED, RoomEvent.ROOM_NOT_EXIST)


def _state_event(room_id: str, state: RoomState, event: RoomEvent, *, reason: str | None = None) -> DeviceEvent:
    detail = w.RoomStateDetail() if reason is None else w.RoomStateDetail(reason=reason)
    return DeviceEvent(w.RoomStateChanged(room_id, int(state), int(event), detail))
