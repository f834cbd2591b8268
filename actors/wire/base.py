"""Building blocks of the wire schema: naming, field types, the request envelope.

Every wire type is a msgspec Struct whose snake_case attributes are renamed
once, here, to the protocol's camelCase (with ZIM's `ID` spelling), so no
call site ever spells a wire key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec


def wire_name(name: str) -> str:
    """snake_case attribute -> the protocol's camelCase with ZIM's `ID` spelling."""
    head, *rest = name.split("_")
    camel = head + "".join(part.title() for part in rest)
    return re.sub(r"Id(?=[A-Z]|s?$)", "ID", camel)


ID = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@:-]+$")]
UInt = Annotated[int, msgspec.Meta(ge=0)]
Platform = Literal["Android", "iOS", "HarmonyOS", "Windows", "Mac", "Linux", "iPad", "Web", "MiniProgram"]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]


class Request(msgspec.Struct, tag_field="op", rename=wire_name, kw_only=True):
    """Envelope fields every request carries."""

    id: UInt


class Body(msgspec.Struct, rename=wire_name, kw_only=True, frozen=True):
    """Nested request objects share the wire naming."""
