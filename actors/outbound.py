"""What actors send to a device session, and the sink that carries it there.

A session's outbound channel is its inbox. Actors never block on a device:
`DeviceSink.push` is non-blocking, and a device whose queue is full is
disconnected as a slow consumer (it catches up later with `resumeFrom`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

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
            body: dict[str, Any] = builtins_of(self.event)
            if self.from_user_id is not None:
                body["fromUserID"] = self.from_user_id
            if self.seq is not None:
                body["seq"] = self.seq
            self._frame = cbor2.dumps(body)
        return self._frame

    def __repr__(self) -> str:
        return f"DeviceEvent({self.name!r}, seq={self.seq})"


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


Outbound = DeviceEvent | Answer | Replay | Disconnect | bytes


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
