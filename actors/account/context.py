"""What every account actor shares: storage, the device sink, the login policy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..hooks import WebhookQueue
from ..outbound import DeviceSink
from ..store.base import MessageRow, Store
from .policy import LoginPolicy


class PolicyBox:
    """The server's current login policy; replaced at run time by the admin API."""

    def __init__(self, policy: LoginPolicy) -> None:
        self.current = policy


@dataclass(slots=True)
class AccountContext:
    """What every account actor shares: storage, the device sink, the policy."""

    store: Store
    devices: DeviceSink
    policy: PolicyBox
    post_account: Callable[[str, object], Awaitable[None]]  # actor-to-actor tell that cannot deadlock
    node: str = "local"
    stream_keep_count: int = 10_000  # durable events kept per account for resume
    stream_keep_s: float = 7 * 24 * 3600.0
    max_devices: int = 64  # online devices per account, whatever the policy allows (each login tells every one)
    stats: Counter[str] = field(default_factory=Counter)
    # told (conversation type, seconds from the send) for each message committed to a receiving account
    on_delivered: Callable[[int, float], None] | None = None
    webhooks: WebhookQueue | None = None  # calls to the application backend (None: none configured)
    # one message for many accounts at once (a cluster carries each other node's share as one
    # envelope): (message, group messageSeq, [(user, sending device left out)]); None: a post each
    post_deliveries: Callable[[MessageRow, int | None, list[tuple[str, str | None]]], Awaitable[None]] | None = None
