"""Actor messages as bytes, for a bus between processes.

A message is one msgpack array `[name, fields]`: `name` is the actor kind and
the class name (`account.Login`), `fields` the message's own fields, wire
Structs and store rows included. Every message type is registered up front
from each kind's inbox union, so decoding never imports or evaluates
anything the sender names.

An answer to an asked message travels the same way: the value, decoded as
the type the message names through `Asks[R]`, or a refusal: a HubbubError
by its protocol code, any other failure as ActorUnavailable.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Mapping
from typing import Any

import msgspec

from ..runtime import ActorUnavailable, Address, Asks
from ..wire.errors import ALL_ERRORS, HubbubError, Internal

_ERRORS_BY_CODE = {cls.code: cls for cls in ALL_ERRORS}


class UnknownMessage(Exception):
    """The bytes name a message type this codec does not know, or do not decode as one."""


class MessageCodec:
    """Encodes and decodes the messages of the given actor kinds (kind -> inbox union)."""

    def __init__(self, kinds: Mapping[str, Any]) -> None:
        self._names: dict[type, str] = {}
        self._decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {}
        self._answers: dict[type, msgspec.msgpack.Decoder[Any]] = {}
        for kind, union in kinds.items():
            for cls in typing.get_args(union) or (union,):
                name = f"{kind}.{cls.__name__}"
                self._names[cls] = name
                self._decoders[name] = msgspec.msgpack.Decoder(cls)
                self._answers[cls] = msgspec.msgpack.Decoder(_answer_type(cls))
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

    def encode_answer(self, value: object) -> bytes:
        """The bytes of an answer value; raises UnknownMessage when it cannot be encoded."""
        try:
            return self._encoder.encode(("ok", value))
        except (TypeError, msgspec.EncodeError) as exc:
            raise UnknownMessage(f"unencodable answer {type(value).__name__}: {exc}") from None

    def encode_failure(self, error: BaseException) -> bytes:
        """The bytes of a refusal: a HubbubError keeps its code and message, anything else its text."""
        if isinstance(error, HubbubError):
            return self._encoder.encode(("refused", (error.code, error.message)))
        return self._encoder.encode(("failed", (0, str(error))))

    def decode_answer(self, asked: type, address: Address, data: bytes) -> Any:
        """The answer to a message of type `asked`; returns the value or raises the refusal it carries.

        Raises UnknownMessage when `data` is no answer of that type.
        """
        try:
            status, body = self._head.decode(data)
            if status == "ok":
                decoder = self._answers.get(asked) or _ANY
                return decoder.decode(body)
            code, text = _FAILURE.decode(body)
        except msgspec.DecodeError as exc:
            raise UnknownMessage(f"undecodable answer: {exc}") from None
        if status == "refused":
            raise _ERRORS_BY_CODE.get(code, Internal)(text)
        raise ActorUnavailable(address, text)


_ANY = msgspec.msgpack.Decoder(Any)
_FAILURE = msgspec.msgpack.Decoder(tuple[int, str])


def _answer_type(cls: type) -> Any:
    """What `cls` is answered with (`R` of its `Asks[R]` base), Any when it is not asked.

    A string annotation is looked up among the names of the module that defines
    `cls`, once, when the codec is built.
    """
    for base in getattr(cls, "__orig_bases__", ()):
        if typing.get_origin(base) is Asks:
            (answer,) = typing.get_args(base)
            if isinstance(answer, typing.ForwardRef):
                answer = answer.__forward_arg__
            if isinstance(answer, str):
                answer = eval(answer, vars(sys.modules[cls.__module__]))  # our own annotation, never the sender's
            return answer
    return Any
