"""ActorRef: tell() / ask() an actor wherever it lives."""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar, overload

import trio

from .address import Address
from .errors import AskTimeout
from .mailbox import Asks, Envelope, Reply

M = TypeVar("M")
R = TypeVar("R")


class Transport(Protocol):
    """Carries an envelope to the actor at an address (local inbox or cluster bus)."""

    async def deliver(self, address: Address, envelope: Envelope[Any]) -> None: ...


class ActorRef(Generic[M]):
    """A handle on one actor; callers never learn where the actor lives."""

    __slots__ = ("address", "_transport")

    def __init__(self, address: Address, transport: Transport) -> None:
        self.address = address
        self._transport = transport

    async def tell(self, msg: M) -> None:
        """Send `msg` without waiting for an answer. Blocks while the inbox is full."""
        await self._transport.deliver(self.address, Envelope(msg))

    @overload
    async def ask(self, msg: Asks[R], *, timeout: float) -> R: ...

    @overload
    async def ask(self, msg: M, *, timeout: float) -> Any: ...

    async def ask(self, msg: Any, *, timeout: float) -> Any:
        """Send `msg` and wait for the answer, typed by what `msg` asks for (`Asks[R]` gives R).

        Blocks while the inbox is full; raises AskTimeout after `timeout` s
        (counting the wait for inbox space), or the error the actor answered.
        """
        reply: Reply[Any] = Reply()
        with trio.move_on_after(timeout):
            await self._transport.deliver(self.address, Envelope(msg, reply))
            return await reply.wait()
        raise AskTimeout(self.address, timeout)

    def __repr__(self) -> str:
        return f"ActorRef({self.address})"
