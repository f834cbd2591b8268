"""What actors send to a device session, and the sink that carries it there.

A session's outbound channel is its inbox. Actors never block on a device:
`DeviceSink.push` is non-blocking, and a device whose queue is full is
disconnected as a slow consumer (it catches up later with `resumeFrom`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import cbor2

from .runtime import Address
from .wire import Event, Reply, builtins_of


class DeviceEvent:
    """An event frame, encoded once however many devices it goes to.

    `seq` (durable events) and `from_user_id` (the sync rule) belong to the
    frame rather than the event: the same event is stamped differently in
    each account's stream.
    """

    __slots__ = ("event", "seq", "from_user_id", "_frame")

    def __init__(self, event: Event, seq: int | None = None, from_user_id: str | None = None) -> None:
        self.event = event
        self.seq = seq
        self.from_user_id = from_user_id
        self._frame: bytes | None = None

    @property
    def name(self) -> str:
        """The event's wire name (its `ev`)."""
        tag: str = self.event.__struct_config__.tag  # type: ignore[assignment]
        return tag

    @property
    def payload(self) -> dict[str, Any]:
        """The event's fields by wire name, without `ev` (for logs and tests; not used on the send path)."""
        fields: dict[str, Any] = builtins_of(self.event)
        del fields["ev"]
        return fields

    def frame(self) -> bytes:
        """The CBOR frame `{"ev": name, ...fields, "fromUserID"?, "seq"?}`; encoded on first use."""
        if self._frame is None:
            shared = _encoded.get(id(self.event))
            if shared is not None and shared[0] is self.event:
                self._frame = self._frame_from(shared[1], shared[2])
            else:
                body: dict[str, Any] = builtins_of(self.event)
                if self.from_user_id is not None:
                    body["fromUserID"] = self.from_user_id
                if self.seq is not None:
                    body["seq"] = self.seq
                self._frame = cbor2.dumps(body)
        return self._frame

    def _frame_from(self, pairs: bytes, count: int) -> bytes:
        """The same bytes as the encoding above, from the event's fields encoded once (`pairs`, `count` of them)."""
        tail = b""
        if self.from_user_id is not None:
            tail += _FROM_USER_KEY + cbor2.dumps(self.from_user_id)
            count += 1
        if self.seq is not None:
            tail += _SEQ_KEY + cbor2.dumps(self.seq)
            count += 1
        return _map_header(count) + pairs + tail

    def __repr__(self) -> str:
        return f"DeviceEvent({self.name!r}, seq={self.seq})"


# ---- events that many accounts push alike, encoded once ---------------------------

SHARED_EVENTS = 256  # distinct shared events remembered: a few per message in flight to a big group
_FROM_USER_KEY = cbor2.dumps("fromUserID")
_SEQ_KEY = cbor2.dumps("seq")
# id(event) -> (the event itself, its fields' CBOR pairs, how many): holding the
# event keeps its id from being reused while the entry lives.
_encoded: OrderedDict[int, tuple[Event, bytes, int]] = OrderedDict()
_shared: OrderedDict[Hashable, Event] = OrderedDict()


E = TypeVar("E", bound=Event)


def shared_event(key: Hashable, make: Callable[[], E]) -> E:
    """The one event for `key` (made by `make` the first time), its fields encoded once for every frame of it.

    For an event many accounts push alike, each with its own seq (a group
    message's messageReceived to every member): every DeviceEvent of it then
    builds its frame from the encoded fields instead of encoding them again.
    `key` must name everything the event holds. Never blocks; the last
    SHARED_EVENTS keys are remembered.
    """
    found = _shared.get(key)
    if found is not None:
        _shared.move_to_end(key)
        return cast(E, found)
    event = make()
    body = cbor2.dumps(builtins_of(event))
    header = _map_header_size(body[0])
    _shared[key] = event
    _encoded[id(event)] = (event, body[header:], _map_count(body))
    while len(_shared) > SHARED_EVENTS:
        _, old = _shared.popitem(last=False)
        del _encoded[id(old)]
    return event


def _map_header(count: int) -> bytes:
    """The CBOR head of a definite-length map of `count` pairs (RFC 8949 §3)."""
    if count < 24:
        return bytes((0xA0 | count,))
    if count < 0x100:
        return bytes((0xB8, count))
    return bytes((0xB9,)) + count.to_bytes(2, "big")


def _map_header_size(first: int) -> int:
    info = first & 0x1F
    return 1 if info < 24 else {24: 2, 25: 3}[info]


def _map_count(body: bytes) -> int:
    info = body[0] & 0x1F
    if info < 24:
        return info
    return int.from_bytes(body[1 : _map_header_size(body[0])], "big")


@dataclass(frozen=True, slots=True)
class Answer:
    """A reply frame that an actor sends on the session's behalf (login)."""

    request_id: int
    result: Reply | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """Send the account's stored events with after_seq < seq <= upto_seq, in order.

    Events meant for one device only are skipped unless this is that device.
    """

    user_id: str
    after_seq: int
    upto_seq: int
    device_id: str


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Send `event` (if any), then close the connection with `code`.

    `by_account` says the account already dropped the device (a kick); a
    session-made disconnect (token expiry) still tells the account.
    """

    code: int
    reason: str
    event: DeviceEvent | None = None
    by_account: bool = True


@dataclass(frozen=True, slots=True)
class ReplyMark:
    """Where the reply to the device's own request belongs among what is pushed to it; never written to the socket.

    An account pushes it to the acting device where that device's step was
    applied, in place of the step's events (the device gets the reply
    instead). A session serving a request holds what is pushed after the
    mark until it has queued the reply: a change made after the step (by
    another device, in the same conversation or thread) then never reaches
    the device before the reply to its own earlier one, and a view built in
    arrival order stays right.
    """


REPLY_MARK: ReplyMark = ReplyMark()

Outbound = DeviceEvent | Answer | Replay | Disconnect | ReplyMark | bytes


class DeviceSink(Protocol):
    """Reaches device sessions by address (the gateway actor implements it)."""

    def push(self, session: Address, item: Outbound) -> bool:
        """Queue `item` for the session without blocking.

        Returns False when the session is gone or too slow (it is then closed).
        """
        ...

    def is_connected(self, session: Address) -> bool:
        """Whether the session is still connected (used after a restart)."""
        ...
