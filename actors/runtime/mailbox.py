"""Envelope (a message plus an optional Reply) and Reply (a one-shot answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import trio

from .errors import ReplyAlreadySet

M = TypeVar("M")
T = TypeVar("T")


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
