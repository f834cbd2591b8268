"""Webhooks: the account actor's component that plans its calls to the application backend (PROTOCOL.md §17).

Each plan returns the rows to queue in the step's own transaction (see
step.py), so a call is queued exactly when its cause is stored. For
offlinePush it keeps the account's known devices (from the login history,
loaded at start) to tell which are not online when a message arrives.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..hooks import MessageSent, OfflinePush, UserOffline, UserOnline, WebhookQueue, hook_message, preview_of
from ..ids import now_ms
from ..store.base import MessageRow, Store, WebhookRow
from ..wire.session import DeviceInfo

# Logins read at start to learn the account's devices: enough for every
# device a person uses, and a bounded read.
_KNOWN_FROM_LOGINS = 100


class Webhooks:
    """The calls one account's changes cause; every method is a no-op without a configured backend."""

    def __init__(self, queue: WebhookQueue | None, user_id: str) -> None:
        self.queue = queue
        self.user_id = user_id
        self.known: dict[str, str] = {}  # deviceID -> platform of its latest login

    async def load(self, store: Store) -> None:
        """Learn the account's devices from its login history (only when offlinePush is wanted)."""
        if self.queue is None or not self.queue.wants("offlinePush"):
            return
        for record, _, _ in reversed(await store.login_history(self.user_id, _KNOWN_FROM_LOGINS)):
            self.known[record.device_id] = record.platform

    def online(self, device: DeviceInfo) -> list[WebhookRow]:
        self.known[device.device_id] = device.platform
        if self.queue is None:
            return []
        return self.queue.plan(self.user_id, "userOnline", UserOnline(user_id=self.user_id, device=device, reason="login", time=now_ms()))

    def offline(self, devices: Iterable[tuple[DeviceInfo, str]]) -> list[WebhookRow]:
        """userOffline for each (device, reason)."""
        if self.queue is None:
            return []
        rows: list[WebhookRow] = []
        for device, reason in devices:
            payload = UserOffline(user_id=self.user_id, device=device, reason=reason, time=now_ms())
            rows += self.queue.plan(self.user_id, "userOffline", payload)
        return rows

    def sent(self, message: MessageRow) -> list[WebhookRow]:
        """messageSent for a message this account sent."""
        if self.queue is None:
            return []
        return self.queue.plan(self.user_id, "messageSent", MessageSent(user_id=self.user_id, message=hook_message(message)))

    def arrived(self, message: MessageRow, conversation_id: str, online: Iterable[str]) -> list[WebhookRow]:
        """offlinePush for a received message when some known devices (not in `online`) are offline."""
        if self.queue is None or not self.queue.wants("offlinePush"):
            return []
        online_ids = set(online)
        offline = [(device_id, platform) for device_id, platform in self.known.items() if device_id not in online_ids]
        if not offline:
            return []
        payload = OfflinePush(
            user_id=self.user_id,
            device_ids=[d for d, _ in offline],
            platforms=[p for _, p in offline],  # platforms[i] is that of deviceIDs[i]
            message_id=message.message_id,
            conversation_id=conversation_id,
            conversation_type=message.conversation_type,
            sender_user_id=message.sender,
            preview=preview_of(message, self.queue.settings.preview_chars),
        )
        return self.queue.plan(self.user_id, "offlinePush", payload)
