"""Wire schema of the session: login, devices, the durable stream (PROTOCOL.md §2, §3, §4)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import ID, Platform, Request, ShortText, UInt


class Login(Request, tag="login"):
    """Log this connection in; must be the first request (within the login timeout)."""

    user_id: ID
    token: Annotated[str, msgspec.Meta(max_length=4096)]
    platform: Platform
    device_id: ID | None = None
    device_name: ShortText = ""
    user_name: ShortText = ""
    resume_from: UInt | None = None


class Logout(Request, tag="logout"):
    """Log this device out; the server replies, then closes with 1000."""


class RenewToken(Request, tag="renewToken"):
    """Replace this session's token before it expires."""

    token: Annotated[str, msgspec.Meta(max_length=4096)]


class QueryDevices(Request, tag="queryDevices"):
    """List every online device of the account."""


class Ack(Request, tag="ack"):
    """Cumulative acknowledgement: every durable event with seq <= `seq` is processed."""

    seq: UInt


# Every durable event carries `seq`; one caused by another device of the same
# account (the sync rule, PROTOCOL.md §4) also carries `fromUserID`.
EVENTS: dict[str, str] = {
    "connectionStateChanged": "state, event, extendedData: kicked (event 4), token expired (event 5). Ephemeral.",
    "selfDevicesChanged": "devices: every online device of the account, after a login, logout, kick or drop. Ephemeral.",
    "tokenWillExpire": "second: the token expires in this many seconds; answer with renewToken. Ephemeral.",
}
