"""Actor messages as bytes, for a bus between processes.

A message is one msgpack array `[name, fields]`: `name` is the actor kind and
the class name (`account.Login`), `fields` the message's own fields, wire
Structs and store rows included. Every message type is registered up front
from each kind's inbox union, so decoding never imports or evaluates
anything the sender names.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

import msgspec


class UnknownMessage(Exception):
    """The bytes name a message type this codec does not know, or do not decode as one."""


class MessageCodec:
    """Encodes and decodes the messages of the given actor kinds (kind -> inbox union)."""

    def __init__(self, kinds: Mapping[str, Any]) -> None:
        self._names: dict[type, str] = {}
        self._decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {}
        for kind, union in kinds.items():
            for cls in typing.get_args(union) or (union,):
                name = f"{kind}.{cls.__name__}"
                self._names[cls] = name
                self._decoders[name] = msgspec.msgpack.Decoder(cls)
        self._encoder = msgspec.msgpack.Encoder()
        self._head = msgspec.msgpack.Decoder(tuple[str, msgspec.Raw])

    def encode(self, msg: object) -> bytes:
        """The bytes of `msg`; raises UnknownMessage for a type no kind lists."""
        name = self._names.get(type(msg))
        if name is None:
            raise UnknownMessage(f"{type(msg).__name__} is not a message of {sorted(set(self._names.values()))[:3]}...")
        return self._encoder.encode((name, msg))

    def decode(self, data: bytes) -> object:
        """The message `data` encodes; raises UnknownMessage when it names no known type or does not fit it."""
        try:
            name, fields = self._head.decode(data)
            decoder = self._decoders.get(name)
            if decoder is None:
                raise UnknownMessage(f"unknown message type {name[:64]!r}")
            return decoder.decode(fields)
        except msgspec.DecodeError as exc:
            raise UnknownMessage(f"undecodable message: {exc}") from None
