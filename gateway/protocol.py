"""The wire schema: request types, events, error and close codes (PROTOCOL.md).

Every request is a msgspec Struct tagged by its `op`; `parse_request` turns a
decoded frame into one, so past the router nobody handles raw dicts. The
project's protocol reference (docs/protocol.md) is generated from this
module by `scripts/gen_protocol_doc.py`.
"""

from __future__ import annotations

import importlib
import re
from typing import Annotated, Any, Literal

import msgspec

from actors.errors import InvalidArgument, UnknownOp

PROTOCOL_VERSION = 1


def _wire_name(name: str) -> str:
    """snake_case attribute -> the protocol's camelCase with ZIM's `ID` spelling."""
    head, *rest = name.split("_")
    camel = head + "".join(part.title() for part in rest)
    return re.sub(r"Id(?=[A-Z]|s?$)", "ID", camel)


ID = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@:-]+$")]
UInt = Annotated[int, msgspec.Meta(ge=0)]
Platform = Literal["Android", "iOS", "HarmonyOS", "Windows", "Mac", "Linux", "iPad", "Web", "MiniProgram"]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]


class Request(msgspec.Struct, tag_field="op", rename=_wire_name, kw_only=True):
    """Envelope fields every request carries."""

    id: UInt


# ---- §2, §3, §4: session, login, devices, stream ----------------------------


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


# ---- §6, §10: messages (peer, room, group share one op) --------------------


class _Body(msgspec.Struct, rename=_wire_name, kw_only=True, frozen=True):
    """Nested request objects share the wire naming."""


class MessageBody(_Body, frozen=True):
    type: Annotated[int, msgspec.Meta(ge=1, le=65535)]
    message: Any  # text or bytes; msgspec cannot express `str | bytes`, so checked below
    extended_data: Annotated[str, msgspec.Meta(max_length=4096)] = ""

    def __post_init__(self) -> None:
        if not isinstance(self.message, str | bytes):
            raise TypeError("Expected `str` or `bytes` for `message.message`")


class SendConfig(_Body, frozen=True):
    has_receipt: bool = False


class SendMessage(Request, tag="sendMessage"):
    """Send to a user (0), a room (1) or a group (2); to own devices when the target is oneself."""

    to_conversation_id: ID
    conversation_type: Literal[0, 1, 2]
    message: MessageBody
    config: SendConfig = SendConfig()
    client_message_id: ID | None = None
    to_login_id: ID | None = None


MAX_MESSAGE_BYTES = 32 * 1024


def message_size(body: MessageBody) -> int:
    """Bytes of a message body as the 32 KiB limit (error 6002) counts them."""
    text = body.message
    return len(text.encode()) if isinstance(text, str) else len(text)


def _all_ops(base: type[Request]) -> dict[str, type[Request]]:
    ops: dict[str, type[Request]] = {}
    for cls in base.__subclasses__():
        tag = cls.__struct_config__.tag
        if isinstance(tag, str):
            ops[tag] = cls
        ops.update(_all_ops(cls))
    return ops


# Each feature keeps its request types in a schema module of its own.
FEATURE_SCHEMAS: tuple[str, ...] = (
    "gateway.protocol_messages",
    "gateway.protocol_rooms",
    "gateway.protocol_calls",
    "gateway.protocol_social",
)


def known_ops() -> dict[str, type[Request]]:
    """op name -> request type, for every op of this module and the feature schemas."""
    for module in FEATURE_SCHEMAS:
        importlib.import_module(module)
    return _all_ops(Request)


def request_id_of(frame: dict[str, Any]) -> int | None:
    """The frame's `id` if it is a valid uint, else None (echoed in the reply)."""
    value = frame.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value
    return None


def parse_request(frame: dict[str, Any], ops: dict[str, type[Request]]) -> Request:
    """Validate a decoded frame into its typed request.

    Raises UnknownOp for an op not in `ops`, InvalidArgument for a missing
    or ill-typed field (the message names the field).
    """
    op = frame.get("op")
    if not isinstance(op, str):
        raise InvalidArgument("every request needs a text `op`")
    cls = ops.get(op)
    if cls is None:
        raise UnknownOp(f"unknown op {op[:64]!r}")
    try:
        return msgspec.convert(frame, cls)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(str(exc)) from None


# ---- events and close codes -------------------------------------------------

# Every durable event carries `seq`; one caused by another device of the same
# account (the sync rule, PROTOCOL.md §4) also carries `fromUserID`.
EVENTS: dict[str, str] = {
    "connectionStateChanged": "state, event, extendedData: kicked (event 4), token expired (event 5). Ephemeral.",
    "selfDevicesChanged": "devices: every online device of the account, after a login, logout, kick or drop. Ephemeral.",
    "tokenWillExpire": "second: the token expires in this many seconds; answer with renewToken. Ephemeral.",
}


class CloseCode:
    """WebSocket close codes the server uses (§12)."""

    LOGOUT = 1000
    FRAME_TOO_LARGE = 1009
    NO_PONG = 1011
    SLOW_CONSUMER = 1013
    KICKED = 4000
    FORCED_OFFLINE = 4001
    TOKEN_EXPIRED = 4002
    LOGIN_TIMEOUT = 4003
    SHUTTING_DOWN = 4004


CLOSE_CODES: dict[int, str] = {
    CloseCode.LOGOUT: "logout",
    CloseCode.FRAME_TOO_LARGE: "frame too large",
    CloseCode.NO_PONG: "the device answered no keepalive ping in time (added: reconnect with resumeFrom)",
    CloseCode.SLOW_CONSUMER: "the device stopped reading its events (added: reconnect with resumeFrom)",
    CloseCode.KICKED: "kicked",
    CloseCode.FORCED_OFFLINE: "forced offline by admin",
    CloseCode.TOKEN_EXPIRED: "token expired",
    CloseCode.LOGIN_TIMEOUT: "login timeout",
    CloseCode.SHUTTING_DOWN: "server shutting down (reconnect with resumeFrom)",
}


class ConnectionEvent:
    SUCCESS = 0
    ACTIVE_LOGIN = 1
    LOGIN_TIMEOUT = 2
    LOGIN_INTERRUPTED = 3
    KICKED_OUT = 4
    TOKEN_EXPIRED = 5
