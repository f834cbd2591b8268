"""Names, IDs and the clock that several actor kinds share.

A low module: it imports only the runtime, so the account, group, room and
call actors can all use it without importing each other.
"""

from __future__ import annotations

import secrets
import time

from .runtime import Address

IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000  # a repeated clientMessageID gets the original reply (PROTOCOL.md §4)


def session_address(login_id: str) -> Address:
    """The address of the gateway session that serves one login."""
    return Address("session", login_id)


def node_of_login(login_id: str) -> str:
    """The node that serves a login: login IDs are `{node}-{random hex}` (gateway Services.new_id)."""
    return login_id.rsplit("-", 1)[0]


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch, as the wire's timestamps count them."""
    return int(time.time() * 1000)


def new_message_id() -> str:
    """Unique server-wide and roughly time-ordered: ms timestamp + 64 random bits."""
    return f"{now_ms():012x}{secrets.token_hex(8)}"
