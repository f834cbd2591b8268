"""Runtime failures of actor messaging (not client-visible by themselves)."""

from __future__ import annotations

from .address import Address


class ActorError(Exception):
    """Base of runtime errors."""


class AskTimeout(ActorError):
    """An ask got no answer within its timeout."""

    def __init__(self, address: Address, timeout: float) -> None:
        super().__init__(f"{address} did not answer within {timeout}s")
        self.address = address


class ActorUnavailable(ActorError):
    """The actor crashed too often, or the runtime is shutting down."""

    def __init__(self, address: Address, why: str) -> None:
        super().__init__(f"{address} unavailable: {why}")
        self.address = address


class ActorCrashed(ActorError):
    """The handler of this very message raised an unexpected exception."""

    def __init__(self, address: Address) -> None:
        super().__init__(f"{address} crashed while handling the request")
        self.address = address


class ReplyAlreadySet(ActorError):
    """A Reply was answered twice: a bug in the actor."""
