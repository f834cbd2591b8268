"""Every request op of the wire, and turning a decoded frame into its typed request."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import msgspec

from . import calls, messages, rooms, session, social
from .base import Request
from .errors import InvalidArgument, UnknownOp

# The schema modules, in the order the protocol reference lists them.
SCHEMA_MODULES: tuple[ModuleType, ...] = (session, messages, rooms, calls, social)


def _all_ops(base: type[Request]) -> dict[str, type[Request]]:
    ops: dict[str, type[Request]] = {}
    for cls in base.__subclasses__():
        tag = cls.__struct_config__.tag
        if isinstance(tag, str):
            ops[tag] = cls
        ops.update(_all_ops(cls))
    return ops


def known_ops() -> dict[str, type[Request]]:
    """op name -> request type, for every op of the schema modules."""
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
