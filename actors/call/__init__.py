"""Calls (PROTOCOL.md §11): the call actor, its messages, the index the gateway reads."""

from . import messages
from .actor import CallActor, CallContext, CallIndex, CallUserState

__all__ = ["CallActor", "CallContext", "CallIndex", "CallUserState", "messages"]
