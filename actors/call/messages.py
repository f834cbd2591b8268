"""The call actor's inbox: one class per message (PROTOCOL.md §11)."""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime import Asks
from ..wire import calls as wire_calls


@dataclass(frozen=True, slots=True)
class Device:
    """The device acting on a call: its user and its login (which names its session)."""

    user_id: str
    login_id: str


@dataclass(frozen=True, slots=True)
class Invitee:
    """A user to invite, with the logins of its devices that were online when invited."""

    user_id: str
    login_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Invite(Asks[None]):
    """Start the call: the inviter's device is bound to it, every invitee device is rung.

    Answered with None once the invitations are queued; the call then lasts
    until it is over (CallIndex.closed).
    """

    inviter: Device
    invitees: tuple[Invitee, ...]
    timeout_s: int
    extended_data: str = ""


@dataclass(frozen=True, slots=True)
class Accept(Asks[None]):
    """The device accepts and is bound to the call (5003 if the user already answered)."""

    device: Device
    extended_data: str = ""


@dataclass(frozen=True, slots=True)
class Reject(Asks[None]):
    """The device declines for its user (5003 unless the user is still being invited)."""

    device: Device
    extended_data: str = ""


@dataclass(frozen=True, slots=True)
class Cancel(Asks[None]):
    """The inviter withdraws invitations (all when `user_ids` is empty) before they are answered."""

    device: Device
    user_ids: tuple[str, ...] = ()
    extended_data: str = ""


@dataclass(frozen=True, slots=True)
class Quit(Asks[None]):
    """The bound device leaves the call it is in."""

    device: Device
    extended_data: str = ""


@dataclass(frozen=True, slots=True)
class End(Asks[None]):
    """A device in the call ends it for everyone."""

    device: Device
    extended_data: str = ""


@dataclass(frozen=True, slots=True)
class DeviceGone:
    """The device's connection ended: a bound device quits. Told, not asked."""

    device: Device


@dataclass(frozen=True, slots=True)
class TimeoutDue:
    """The invitation timeout ran out (told by the timer); ignored if disarmed since."""


CallUser = wire_calls.CallUser  # one user's state in a call, as `callUserList` shows it


@dataclass(frozen=True, slots=True)
class NodesLeft:
    """Nodes left the cluster: devices they served that are in the call quit it. Told, not asked."""

    nodes: tuple[str, ...]


CallMsg = Invite | Accept | Reject | Cancel | Quit | End | DeviceGone | TimeoutDue | NodesLeft
