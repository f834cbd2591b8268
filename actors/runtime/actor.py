"""Actor: the base class every actor kind extends."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from .address import Address
from .mailbox import Reply

M = TypeVar("M")


class CrashInjected(Exception):
    """Raised by an actor on purpose, when a test asked it to crash."""


class Actor(ABC, Generic[M]):
    """One actor: owns its state and handles one message at a time.

    The runtime calls `start` (restore state from storage) before the first
    message, then `handle` for each message, and `drained` after a message
    that left the inbox empty; `idle` says whether the runtime may retire
    the actor when no message came for a while.
    """

    def __init__(self, address: Address) -> None:
        self.address = address
        self._crash_next = False

    async def start(self) -> None:
        """Restore state; runs again after every crash restart."""

    @abstractmethod
    async def handle(self, msg: M, reply: Reply[Any] | None) -> None:
        """Handle one message; answer `reply` (if any) before returning.

        Raising a HubbubError refuses the request (the runtime puts it in the
        reply, the actor carries on); any other exception is a crash.
        """

    def idle(self) -> bool:
        """May the runtime retire this actor now? Must not await."""
        return True

    def drained(self) -> None:
        """The inbox is empty after the message just handled; must not await.

        The end of a burst: an actor that holds back work a burst of
        messages would repeat (announcing a changed list once, not once per
        change) does it here.
        """

    async def stop(self) -> None:
        """Release what the actor holds; runs when retired or shut down."""

    def crash_next(self) -> None:
        """Test hook: the next handled message raises CrashInjected."""
        self._crash_next = True

    def check_crash_hook(self) -> None:
        if self._crash_next:
            self._crash_next = False
            raise CrashInjected(str(self.address))
