"""Generic actor machinery; knows nothing about chat."""

from .actor import Actor, CrashInjected
from .address import Address
from .errors import ActorCrashed, ActorError, ActorUnavailable, AskTimeout
from .mailbox import Asks, Envelope, Reply, answer
from .ref import ActorRef, Transport
from .registry import Registry
from .timer import Timer

__all__ = [
    "Actor", "ActorCrashed", "ActorError", "ActorRef", "ActorUnavailable", "Address", "AskTimeout", "Asks",
    "CrashInjected", "Envelope", "Registry", "Reply", "Timer", "Transport", "answer",
]
