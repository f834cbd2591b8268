"""Step: what handling one account message changes, committed once when the handler is done.

A handler never writes to the store itself. It records the step's rows (one
typed AccountWrite), its durable events (with the device that acted, so the
others see them as from this user) and what to do once they are stored:
in-memory state to update, other actors to tell. The account actor commits
the step in one transaction and only then runs those, so a failed or
repeated step changes nothing at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ..store.base import AccountWrite, WebhookRow
from ..wire import DurableEvent

AfterCommit = Callable[[list[int]], Awaitable[None]]  # called with the outbox IDs the write queued


class StepAlreadyPlanned(Exception):
    """A handler recorded rows or events twice in one step: a bug in the handler."""


@dataclass(slots=True)
class Step:
    """One message's rows, events and after-commit actions (see the module docstring)."""

    rows: AccountWrite | None = None
    events: Sequence[DurableEvent] = ()
    exclude: str | None = None  # the acting device: it has the reply, so it gets none of the events
    only: str | None = None  # the one device that gets the events (messages to one's own device)
    after: list[AfterCommit] = field(default_factory=list)
    webhooks: list[WebhookRow] = field(default_factory=list)  # calls to the application backend, queued with the rows
    committed: bool = False  # set by the actor when it stores the step (once)

    def store(self, rows: AccountWrite) -> None:
        """Record the step's rows; raises StepAlreadyPlanned on a second call."""
        if self.rows is not None:
            raise StepAlreadyPlanned(f"rows of {rows.user_id} recorded twice")
        self.rows = rows

    def emit(self, events: Sequence[DurableEvent], *, exclude: str | None = None, only: str | None = None) -> None:
        """Record the step's durable events; raises StepAlreadyPlanned on a second call."""
        if self.events:
            raise StepAlreadyPlanned("events recorded twice")
        self.events, self.exclude, self.only = events, exclude, only

    def call(self, rows: list[WebhookRow]) -> None:
        """Queue calls to the application backend in the step's transaction."""
        self.webhooks += rows

    def then(self, action: AfterCommit) -> None:
        """Run `action` once the step is stored (in the order added); never if it is not."""
        self.after.append(action)

    @property
    def empty(self) -> bool:
        """Nothing to store (a query, a repeat answered from storage, a no-op)."""
        return self.rows is None and not self.events and not self.webhooks
