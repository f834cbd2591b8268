"""What actors send to a device session, and the sink that carries it there.

A session's outbound channel is its inbox. Actors never block on a device:
`DeviceSink.push` is non-blocking, and a device whose queue is full is
disconnected as a slow consumer (it catches up later with `resumeFrom`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import cbor2

from .runtime import Address


class DeviceEvent:
    """An event frame, encoded once however many devices it goes to."""

    __slots__ = ("name", "payload", "seq", "_frame")

    def __init__(self, name: str, payload: dict[str, Any], seq: int | None = None) -> None:
        self.name = name
        self.payload = payload
        self.seq = seq
        self._frame: bytes | None = None

    def frame(self) -> bytes:
        """The CBOR frame `{"ev": name, ...payload, "seq"?}`; encoded on first use."""
        if self._frame is None:
            body: dict[str, Any] = {"ev": self.name, **self.payload}
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
    result: dict[str, Any] = field(default_factory=dict)


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
