"""Wire schema of the session: login, devices, the durable stream (PROTOCOL.md §2, §3, §4)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import ID, Body, Event, Platform, Reply, Request, ShortText, StoredUInt


class DeviceInfo(Body, frozen=True):
    """One logged-in device (PROTOCOL.md §3 DeviceInfo)."""

    login_id: str
    device_id: str
    platform: str
    device_name: str
    login_time: int


class LoginReply(Reply, frozen=True):
    """The login's result: its loginID, the stream head `seq`, the account's devices.

    `resumeGap` is true when `resumeFrom` is past what the server keeps (or
    ahead of the stream): the device must resync instead of replaying.
    """

    login_id: str
    server_time: int
    seq: int
    devices: list[DeviceInfo]
    resume_gap: bool


class DevicesReply(Reply, frozen=True):
    """Every online device of the account, in login order."""

    devices: list[DeviceInfo]


class Login(Request, tag="login"):
    """Log this connection in; must be the first request (within the login timeout)."""

    reply = LoginReply

    user_id: ID
    token: Annotated[str, msgspec.Meta(max_length=4096)]
    platform: Platform
    device_id: ID | None = None
    device_name: ShortText = ""
    user_name: ShortText = ""
    resume_from: StoredUInt | None = None


class Logout(Request, tag="logout"):
    """Log this device out; the server replies, then closes with 1000."""


class RenewToken(Request, tag="renewToken"):
    """Replace this session's token before it expires."""

    token: Annotated[str, msgspec.Meta(max_length=4096)]


class QueryDevices(Request, tag="queryDevices"):
    """List every online device of the account."""

    reply = DevicesReply


class KickDevice(Request, tag="kickDevice"):
    """Sign out another online device of one's own account (close 4000, reason `self`)."""

    login_id: ID


class Ack(Request, tag="ack"):
    """Cumulative acknowledgement: every durable event with seq <= `seq` is processed."""

    seq: StoredUInt


# ---- events ------------------------------------------------------------------


class KickDetail(Body, frozen=True):
    """`extendedData` of connectionStateChanged: why, and by which device (null for admin).

    Empty (`{}`) when the token expired.
    """

    reason: str | msgspec.UnsetType = msgspec.UNSET  # "policy", "sameDevice", "admin" or "self"
    by_login_id: str | None | msgspec.UnsetType = msgspec.UNSET
    by_platform: str | None | msgspec.UnsetType = msgspec.UNSET


class ConnectionStateChanged(Event, tag="connectionStateChanged", frozen=True):
    """Kicked (state 0, event 4, then close 4000/4001) or token expired (event 5, then close 4002)."""

    state: int
    event: int
    extended_data: KickDetail


class SelfDevicesChanged(Event, tag="selfDevicesChanged", frozen=True):
    """Every online device of the account, after a login, logout, kick or drop."""

    devices: list[DeviceInfo]


class TokenWillExpire(Event, tag="tokenWillExpire", frozen=True):
    """The token expires in `second` seconds; answer with renewToken."""

    second: int
