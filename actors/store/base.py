"""What the actors need from storage: records and one Protocol per concern.

Actors depend on these Protocols only. `sqlite.py` is the embedded default;
a PostgreSQL adapter implements the same Protocols for cluster mode. Times
are integers in milliseconds since the epoch; `seq` numbers are assigned by
the account actor, never by the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One login of one device: `login_id` is unique per login, not per device."""

    login_id: str
    device_id: str
    platform: str
    device_name: str
    login_time: int  # ms since epoch


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event of an account's durable stream; `payload` is an encoded CBOR map."""

    seq: int
    name: str
    payload: bytes
    time: int  # ms since epoch


class AccountStore(Protocol):
    """The account row every other per-account table hangs from."""

    async def ensure_account(self, user_id: str, user_name: str | None, now_ms: int) -> None:
        """Create the account if missing; a non-empty `user_name` replaces the stored one."""
        ...


class DeviceStore(Protocol):
    """Which devices are online on which node, and the login history."""

    async def device_online(self, user_id: str, node: str, device: DeviceRecord) -> None:
        """Record `device` as online on `node` and append it to the login history.

        Upserts by `device.login_id`; creates the account row if it is missing.
        """
        ...

    async def device_offline(self, user_id: str, login_id: str, now_ms: int, reason: str) -> None:
        """Remove the online row and close its history entry; an unknown login is a no-op."""
        ...

    async def online_devices(self, user_id: str) -> list[DeviceRecord]:
        """The devices online now, oldest login first (ties: insertion order)."""
        ...

    async def clear_node_devices(self, node: str, now_ms: int) -> int:
        """Mark every device online on `node` offline with reason 'restart'; return how many.

        Called when `node` starts: connections do not survive a restart.
        """
        ...

    async def login_history(
        self, user_id: str, limit: int
    ) -> list[tuple[DeviceRecord, int | None, str | None]]:
        """Up to `limit` logins, newest first, as (record, logout_time, logout_reason)."""
        ...


class StreamStore(Protocol):
    """The per-account durable event stream that devices resume from."""

    async def append_events(self, user_id: str, events: Sequence[StoredEvent]) -> None:
        """Store `events` and move the account's head to the last seq, atomically.

        Seqs must be strictly increasing and above the stored head (ValueError
        otherwise, nothing stored). Creates the account row if it is missing.
        """
        ...

    async def events_after(self, user_id: str, after_seq: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` retained events with seq > `after_seq`, ascending."""
        ...

    async def stream_bounds(self, user_id: str) -> tuple[int, int]:
        """(oldest retained seq, head seq); oldest is head + 1 when nothing is retained.

        An unknown account has head 0.
        """
        ...

    async def trim_stream(self, user_id: str, keep_count: int, min_time_ms: int) -> int:
        """Delete events older than the newest `keep_count` or older than `min_time_ms`.

        The head never moves back. Returns how many events were deleted.
        """
        ...


class Store(AccountStore, DeviceStore, StreamStore, Protocol):
    """Every concern in one object, plus the primitives later features build on.

    `write` and `read` run `fn` with an engine connection (a `sqlite3.Connection`
    for SQLite) in a worker thread; `Any` here lets other engines implement it.
    """

    async def write(self, fn: Callable[[Any], T]) -> T:
        """Run `fn` in a write transaction; return its result once committed."""
        ...

    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run `fn` on a read-only snapshot and return its result."""
        ...
