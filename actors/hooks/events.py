"""The JSON bodies of the notifications (PROTOCOL.md §17), in the wire's naming.

A message body that is a CBOR byte string has no JSON spelling: it goes as
base64 text with `binary` true (and comes back so from beforeSendMessage).
"""

from __future__ import annotations

import base64

import msgspec

from ..store.base import MessageRow
from ..wire import Body
from ..wire.session import DeviceInfo

EVENTS = ("userOnline", "userOffline", "messageSent", "offlinePush")


class HookMessage(Body, frozen=True):
    """A stored message as the backend sees it; `conversationID` is the receiver (peer) or the group."""

    message_id: str
    client_message_id: str | None
    conversation_id: str
    conversation_type: int
    sender_user_id: str
    type: int
    message: str  # text, or base64 when `binary`
    binary: bool
    extended_data: str
    timestamp: int


class UserOnline(Body, frozen=True):
    """A device of the account logged in."""

    user_id: str
    device: DeviceInfo
    reason: str  # "login"
    time: int


class UserOffline(Body, frozen=True):
    """A device of the account left: `reason` is logout, kicked:policy, kicked:admin, lost, closed, restart, ..."""

    user_id: str
    device: DeviceInfo
    reason: str
    time: int


class MessageSent(Body, frozen=True):
    """A peer or group message was stored (sent by `userID`)."""

    user_id: str
    message: HookMessage


class OfflinePush(Body, frozen=True):
    """A durable message reached an account that has devices not online now: push to them."""

    user_id: str
    device_ids: list[str]
    platforms: list[str]  # the platform of each of `deviceIDs`, in the same order
    message_id: str
    conversation_id: str
    conversation_type: int
    sender_user_id: str
    preview: str | None


def hook_message(message: MessageRow) -> HookMessage:
    """A stored message in the backend's JSON: the peer or group is its conversationID."""
    body = message.body
    binary = isinstance(body, bytes)
    text = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    return HookMessage(
        message_id=message.message_id,
        client_message_id=message.client_message_id,
        conversation_id=message.target,
        conversation_type=message.conversation_type,
        sender_user_id=message.sender,
        type=message.type,
        message=text,
        binary=binary,
        extended_data=message.extended_data,
        timestamp=message.timestamp,
    )


def preview_of(message: MessageRow, chars: int | None) -> str | None:
    """The start of a text message for a push notification; None for bytes or with previews off."""
    if chars is None or not isinstance(message.body, str):
        return None
    text = message.body
    return text if len(text) <= chars else text[: max(0, chars - 1)] + "…"


_encoder = msgspec.json.Encoder()


def encode(payload: msgspec.Struct) -> bytes:
    """The body as it is signed and sent."""
    return _encoder.encode(payload)
