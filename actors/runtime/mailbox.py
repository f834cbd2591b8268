"""Envelope (a message plus an optional Reply), Reply (a one-shot answer), Asks (a message's answer type)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import trio

from .errors import ReplyAlreadySet

M = TypeVar("M")
T = TypeVar("T")
R_co = TypeVar("R_co", covariant=True)


class Asks(Generic[R_co]):
    """Base of a message that is answered with an `R_co`: `await ref.ask(msg)` has that type.

    A message class declares its answer once (`class QueryDevices(Asks[list[DeviceInfo]])`);
    the actor answers it with `answer(reply, msg, value)`, which checks the value's type.
    """

    __slots__ = ()


def answer(reply: Reply[Any] | None, msg: Asks[T], value: T) -> None:
    """Answer `msg` (if it was asked) with `value`, typed by what `msg` asks for."""
    if reply is not None:
        reply.set(value)


class Reply(Generic[T]):
    """A one-shot answer slot; setting it after the asker gave up is harmless."""

    __slots__ = ("_done", "_value", "_error")

    def __init__(self) -> None:
        self._done = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    @property
    def is_set(self) -> bool:
        return self._done.is_set()

    def set(self, value: T) -> None:
        """Answer with `value`. Raises ReplyAlreadySet on a second answer."""
        if self._done.is_set():
            raise ReplyAlreadySet(repr(value))
        self._value = value
        self._done.set()

    def fail(self, error: BaseException) -> None:
        """Answer with an exception that the asker will raise."""
        if self._done.is_set():
            raise ReplyAlreadySet(repr(error))
        self._error = error
        self._done.set()

    async def wait(self) -> T:
        """Wait for the answer; raises what the actor failed it with."""
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Envelope(Generic[M]):
    """A message travelling to an actor, with the reply slot beside it."""

    msg: M
    reply: Reply[Any] | None = None
