"""CBOR in and out, with every framing limit of the protocol (PROTOCOL.md §1, §12).

Inbound frames come from strangers: cbor2 is run with its hardening options,
every tag is refused, and the whole frame must be one CBOR item.
"""

from __future__ import annotations

import io
from typing import Any

import cbor2

from actors.errors import FrameTooLarge, InvalidFrame
from actors.wire import Reply, builtins_of

MAX_DEPTH = 32


def _refuse_tag(decoder: object, *_: object) -> object:
    raise cbor2.CBORDecodeError("CBOR tags are not allowed")


class _EveryTag(dict[int, Any]):
    """A semantic-decoder table that claims every tag, so none is decoded."""

    def __contains__(self, tag: object) -> bool:
        return True

    def get(self, tag: object, default: object = None) -> Any:
        return _refuse_tag

    def __getitem__(self, tag: object) -> Any:
        return _refuse_tag


_NO_TAGS = _EveryTag()


def decode_frame(frame: bytes | str, *, max_bytes: int) -> dict[str, Any]:
    """Decode one inbound frame into a map with text keys.

    Raises FrameTooLarge past `max_bytes`, InvalidFrame for a text frame,
    undecodable bytes, a tag, nesting deeper than 32, trailing bytes, or a
    value that is not a map.
    """
    if isinstance(frame, str):
        raise InvalidFrame("text frames are not accepted: send one CBOR map in a binary frame")
    if len(frame) > max_bytes:
        raise FrameTooLarge(f"frame of {len(frame)} bytes exceeds the {max_bytes}-byte limit")
    stream = io.BytesIO(frame)
    try:
        value = cbor2.CBORDecoder(
            stream,
            tag_hook=_refuse_tag,
            semantic_decoders=_NO_TAGS,
            max_depth=MAX_DEPTH,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            strict_hashable_types=True,
        ).decode()
    except cbor2.CBORDecodeError as exc:
        raise InvalidFrame(f"undecodable CBOR: {exc}") from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise InvalidFrame(f"undecodable CBOR: {exc}") from None
    if stream.tell() != len(frame):
        raise InvalidFrame(f"{len(frame) - stream.tell()} trailing bytes after the CBOR item")
    if not isinstance(value, dict):
        raise InvalidFrame(f"a frame must be a CBOR map, got {type(value).__name__}")
    if not _depth_within(value, MAX_DEPTH):
        raise InvalidFrame(f"maximum container nesting depth ({MAX_DEPTH}) exceeded")
    if not all(isinstance(key, str) for key in value):
        raise InvalidFrame("map keys must be text strings")
    return value


def _depth_within(value: dict[str, Any], limit: int) -> bool:
    """Whether containers nest at most `limit` deep (the frame's map is level 1).

    cbor2's max_depth counts the levels of decoded items, so it lets an empty
    array or map through one level past the limit; this level-by-level walk
    closes that gap. Empty containers end their branch, so the walk looks at
    each item of a non-empty container once: cheap next to decoding it.
    """
    level: list[Any] = [value]
    for depth in range(1, limit + 1):
        children = [
            child
            for container in level
            for child in (container.values() if type(container) is dict else container)
            if type(child) is list or type(child) is dict
        ]
        if not children:
            return True
        if depth == limit:
            return False  # a container inside a container at the limit
        level = [child for child in children if child]
    return True


def encode_frame(value: dict[str, Any]) -> bytes:
    """Encode one outbound map."""
    return cbor2.dumps(value)


def reply_ok(request_id: int | None, result: Reply | dict[str, Any] | None = None) -> bytes:
    frame: dict[str, Any] = {"re": request_id, "ok": True}
    if isinstance(result, Reply):
        frame.update(builtins_of(result))
    elif result:
        frame.update(result)
    return cbor2.dumps(frame)


def reply_error(request_id: int | None, code: int, message: str) -> bytes:
    return cbor2.dumps({"re": request_id, "ok": False, "error": {"code": code, "message": message}})
