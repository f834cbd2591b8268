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
    the actor when no message came for a while. For kinds that are
    claimed, the runtime claims the actor (sets `epoch`) before `start`.
    """

    def __init__(self, address: Address) -> None:
        self.address = address
        # The ownership epoch the runtime claimed for this actor before `start`
        # (None: its kind is not claimed); the actor fences its writes with it.
        self.epoch: int | None = None
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

    def taken_over(self) -> None:
        """Another node owns this actor now (a write met OwnershipLost); runs before `stop`, must not await.

        Let go of what still points here (an account closes its devices'
        connections, resumably, so they find the new owner).
        """

    def crash_next(self) -> None:
        """Test hook: the next handled message raises CrashInjected."""
        self._crash_next = True

    def check_crash_hook(self) -> None:
        if self._crash_next:
            self._crash_next = False
            raise CrashInjected(str(self.address))
