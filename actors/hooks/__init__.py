"""Calls to the application backend (PROTOCOL.md §17): what each event carries and the queue's bound.

The account and group actors plan the calls a change causes
(`WebhookQueue.plan`) and store them with the change, in one transaction;
the gateway's delivery worker sends them.
"""

from .events import (
    EVENTS,
    HookMessage,
    MessageSent,
    OfflinePush,
    UserOffline,
    UserOnline,
    hook_message,
    preview_of,
)
from .queue import WebhookQueue, WebhookSettings

__all__ = [
    "EVENTS", "HookMessage", "MessageSent", "OfflinePush", "UserOffline", "UserOnline", "WebhookQueue",
    "WebhookSettings", "hook_message", "preview_of",
]
