"""Timer: one pending wake-up of an actor, cancelled when its reason goes away."""

from __future__ import annotations

from typing import Any

import trio

from .errors import ActorUnavailable
from .ref import ActorRef


class Timer:
    """Tell an actor `msg` at `deadline` (trio's clock), unless cancelled first.

    The sleeping task runs in the nursery that runs the actor itself (the
    registry's) inside a cancel scope kept here; the actor cancels it when
    the reason to wake goes away and in `stop()`, so no timer outlives its
    actor. A wake-up may arrive late or after a re-arm: the actor re-checks
    its own deadline when the message comes.
    """

    __slots__ = ("_scope",)

    def __init__(self) -> None:
        self._scope: trio.CancelScope | None = None

    def arm(self, deadline: float, ref: ActorRef[Any], msg: object) -> None:
        """Replace any pending wake-up. Must be called from the actor's own task."""
        self.cancel()
        scope = self._scope = trio.CancelScope()
        nursery = trio.lowlevel.current_task().parent_nursery
        assert nursery is not None, "a timer is armed from an actor's task"
        nursery.start_soon(_wake, scope, deadline, ref, msg)

    def cancel(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None


async def _wake(scope: trio.CancelScope, deadline: float, ref: ActorRef[Any], msg: object) -> None:
    with scope:
        await trio.sleep_until(deadline)
        try:
            await ref.tell(msg)
        except ActorUnavailable:
            pass  # the runtime is shutting down: nothing left to wake
