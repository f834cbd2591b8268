"""Building blocks of the wire schema: naming, field types, the request envelope.

Every wire type is a msgspec Struct whose snake_case attributes are renamed
once, here, to the protocol's camelCase (with ZIM's `ID` spelling), so no
call site ever spells a wire key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

import msgspec


def wire_name(name: str) -> str:
    """snake_case attribute -> the protocol's camelCase with ZIM's `ID` spelling."""
    head, *rest = name.split("_")
    camel = head + "".join(part.title() for part in rest)
    return re.sub(r"Id(?=[A-Z]|s?$)", "ID", camel)


def builtins_of(value: msgspec.Struct) -> Any:
    """A wire Struct as CBOR-ready builtins: wire names, UNSET fields left out, bytes kept as bytes."""
    return msgspec.to_builtins(value, builtin_types=(bytes,))


ID_PATTERN = r"^[A-Za-z0-9_.@:-]+$"
ID = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=ID_PATTERN)]
UInt = Annotated[int, msgspec.Meta(ge=0)]
# An integer that reaches the store fits its INTEGER (SQLite and PostgreSQL: signed 64 bits);
# a larger one, though a valid CBOR uint, is out of range (1003) and changes nothing.
STORE_INT_MAX = 2**63 - 1
STORE_INT_MIN = -(2**63)
StoredUInt = Annotated[int, msgspec.Meta(ge=0, le=STORE_INT_MAX)]
StoredInt = Annotated[int, msgspec.Meta(ge=STORE_INT_MIN, le=STORE_INT_MAX)]
Platform = Literal["Android", "iOS", "HarmonyOS", "Windows", "Mac", "Linux", "iPad", "Web", "MiniProgram"]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]


class Reply(msgspec.Struct, rename=wire_name, kw_only=True, frozen=True):
    """The result fields of an ok reply: `{"re": id, "ok": true, ...fields}`."""


class Request(msgspec.Struct, tag_field="op", rename=wire_name, kw_only=True):
    """Envelope fields every request carries.

    `reply` names the Struct of the ok reply's result fields (None: the
    reply is the bare `{"re": id, "ok": true}`).
    """

    reply: ClassVar[type[Reply] | None] = None

    id: UInt


class Body(msgspec.Struct, rename=wire_name, kw_only=True, frozen=True):
    """Nested objects of requests, events and replies share the wire naming."""


class Event(msgspec.Struct, tag_field="ev", rename=wire_name, frozen=True):
    """A server-to-client event `{"ev": name, ...fields}`, tagged by its name.

    A `durable` event is appended to the account's stream: its frame also
    carries `seq`, and `fromUserID` when another device of the same account
    caused it (the sync rule, PROTOCOL.md §4); the edge adds both when it
    encodes the event (actors.outbound.DeviceEvent).
    """

    durable: ClassVar[bool] = False


class DurableEvent(Event, frozen=True):
    """An event of the account's durable stream (see Event)."""

    durable: ClassVar[bool] = True


class UserRef(Body, frozen=True):
    """A user named by ID, as member and user lists show it."""

    user_id: str


class ErrorUser(Body, frozen=True):
    """A user an operation left out, and why (a text reason or an error code)."""

    user_id: str
    reason: str | int
