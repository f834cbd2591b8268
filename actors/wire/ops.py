"""Every request op and event of the wire, and turning a decoded frame into its typed request."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any, TypeVar

import msgspec

from . import calls, group_joining, group_member_attributes, messages, rooms, session, social, threads
from .base import ID_PATTERN, DurableEvent, Event, Request
from .errors import InvalidArgument, UnknownOp

T = TypeVar("T")

# The schema modules, in the order the protocol reference lists them.
SCHEMA_MODULES: tuple[ModuleType, ...] = (session, messages, rooms, calls, social, group_joining, group_member_attributes, threads)


_BASES: tuple[type, ...] = (DurableEvent,)  # tagged by msgspec with their class name, but never sent


def _tagged(base: type[T]) -> dict[str, type[T]]:
    found: dict[str, type[T]] = {}
    for cls in base.__subclasses__():
        tag = cls.__struct_config__.tag  # type: ignore[attr-defined]
        if isinstance(tag, str) and cls not in _BASES:
            found[tag] = cls
        found.update(_tagged(cls))
    return found


def known_ops() -> dict[str, type[Request]]:
    """op name -> request type, for every op of the schema modules."""
    return _tagged(Request)


def known_events() -> dict[str, type[Event]]:
    """event name -> event type, for every event of the schema modules."""
    return _tagged(Event)


# Every durable event, spelled out so that type checkers and msgspec both see the union;
# tests/test_actor_messages.py checks it against known_events().
AnyDurableEvent = (
    messages.PeerMessageReceived | messages.ConversationChanged | messages.ConversationTotalUnreadMessageCountUpdated
    | messages.ConversationsAllDeleted | messages.MessageRevokeReceived | messages.MessageDeleted
    | messages.MessageReceiptChanged | messages.ConversationMessageReceiptChanged
    | social.UserInfoUpdated | social.FriendApplicationListChanged | social.FriendListChanged
    | social.GroupStateChanged | social.GroupMemberStateChanged | social.GroupMemberInfoUpdated
    | social.GroupNameUpdated | social.GroupNoticeUpdated | social.GroupAttributesUpdated | social.GroupMessageReceived
    | group_joining.GroupApplicationListChanged | group_joining.GroupJoinModeUpdated
    | group_member_attributes.GroupMemberAttributesUpdated
    | threads.ThreadChanged | threads.ThreadMemberChanged | threads.ThreadMessageReceived
)


def decode_durable_event(value: Any) -> AnyDurableEvent:
    """A durable event back from its builtin form (as `msgspec.to_builtins` made it).

    Raises msgspec.ValidationError for anything else.
    """
    event: AnyDurableEvent = msgspec.convert(value, AnyDurableEvent)
    return event


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
        raise InvalidArgument(validation_text(exc)) from None


def validation_text(exc: msgspec.ValidationError) -> str:
    """msgspec's message in the protocol's words: the ID rule instead of a regex, the field by name."""
    text = str(exc).replace(f"matching regex '{ID_PATTERN}'", "that is an ID (A-Z a-z 0-9 _ . @ : -)")
    text = re.sub(r"matching regex '.*?'(?= - at |$)", "in the documented format", text)
    return re.sub(r" - at `\$\.?([^`]*)`$", lambda m: f" (field `{m.group(1)}`)" if m.group(1) else "", text)
