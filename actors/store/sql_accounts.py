"""AccountStore, DeviceStore and StreamStore in the SQL both engines speak (see `sql`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, TypeVar

import cbor2

from ..ids import IDEMPOTENCY_WINDOW_MS
from .base import Claim, DeviceRecord, Fence, StoredEvent, WebhookRow
from .sql import Connection, Cursor, in_marks
from .sql_webhooks import queue_webhooks

T = TypeVar("T")


class SqlAccountStore:
    """Accounts, devices and the durable stream; mixed into a store class, which provides read/write."""

    if TYPE_CHECKING:

        async def write(self, fn: Callable[[Connection], T], *, fence: Fence | Claim | None = None) -> T: ...

        async def read(self, fn: Callable[[Connection], T]) -> T: ...

    async def ensure_account(self, user_id: str, user_name: str | None, now_ms: int) -> None:
        """Create the account if missing; a non-empty `user_name` replaces the stored one."""
        await self.write(lambda conn: _ensure_account(conn, user_id, user_name, now_ms))

    async def device_online(self, user_id: str, node: str, device: DeviceRecord) -> None:
        """Upsert the online row by login_id and append a login-history row."""
        await self.write(lambda conn: _device_online(conn, user_id, node, device))

    async def device_offline(self, user_id: str, login_id: str, now_ms: int, reason: str) -> None:
        """Remove the online row and close its history entry; unknown logins are a no-op."""
        await self.write(lambda conn: _device_offline(conn, user_id, login_id, now_ms, reason))

    async def online_devices(self, user_id: str) -> list[DeviceRecord]:
        """The devices online now, by login_time then insertion order."""
        return await self.read(lambda conn: _online_devices(conn, user_id))

    async def node_devices(self, node: str) -> list[tuple[str, DeviceRecord]]:
        """(user_id, record) of every device online on `node`, in login order."""
        return await self.read(lambda conn: _node_devices(conn, node))

    async def clear_node_devices(self, node: str, now_ms: int, webhooks: Sequence[WebhookRow] = ()) -> int:
        """Mark every device online on `node` offline (reason 'restart'), queueing `webhooks`; return how many."""
        return await self.write(lambda conn: _clear_node_devices(conn, node, now_ms, webhooks))

    async def login_history(self, user_id: str, limit: int) -> list[tuple[DeviceRecord, int | None, str | None]]:
        """Up to `limit` logins, newest first, as (record, logout_time, logout_reason)."""
        return await self.read(lambda conn: _login_history(conn, user_id, limit))

    async def append_events(self, user_id: str, events: Sequence[StoredEvent]) -> None:
        """Store `events` and set the head to the last seq in one transaction.

        Raises ValueError (nothing stored) unless seqs strictly increase above the head.
        """
        if events:
            await self.write(lambda conn: _append_events(conn, user_id, events))

    async def events_after(self, user_id: str, after_seq: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` retained events with seq > `after_seq`, ascending."""
        return await self.read(lambda conn: _events_after(conn, user_id, after_seq, limit))

    async def stream_bounds(self, user_id: str) -> tuple[int, int]:
        """(oldest retained seq or head + 1, head seq); head is 0 for an unknown account."""
        return await self.read(lambda conn: _stream_bounds(conn, user_id))

    async def trim_stream(self, user_id: str, keep_count: int, min_time_ms: int, *, fence: Fence | None = None) -> int:
        """Delete events beyond the newest `keep_count` or older than `min_time_ms`; return how many."""
        if keep_count < 0:
            raise ValueError(f"keep_count must be >= 0, got {keep_count}")
        return await self.write(lambda conn: _trim_stream(conn, user_id, keep_count, min_time_ms), fence=fence)


# -- domain SQL: each runs in a worker thread on a store connection ---------

_DEVICE_COLUMNS = "login_id, user_id, node, device_id, platform, device_name, login_time"


def _ensure_account(conn: Connection, user_id: str, user_name: str | None, now_ms: int) -> None:
    conn.execute(
        "INSERT INTO accounts (user_id, user_name, created_time) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET user_name = excluded.user_name"
        " WHERE excluded.user_name IS NOT NULL",
        (user_id, user_name or None, now_ms),
    )


def _device_online(conn: Connection, user_id: str, node: str, device: DeviceRecord) -> None:
    _ensure_account(conn, user_id, None, device.login_time)
    row = (device.login_id, user_id, node, device.device_id, device.platform, device.device_name, device.login_time)
    conn.execute(
        f"INSERT INTO online_devices ({_DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (login_id) DO UPDATE SET user_id = excluded.user_id, node = excluded.node,"
        " device_id = excluded.device_id, platform = excluded.platform,"
        " device_name = excluded.device_name, login_time = excluded.login_time",
        row,
    )
    conn.execute(f"INSERT INTO login_history ({_DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row)


def _device_offline(conn: Connection, user_id: str, login_id: str, now_ms: int, reason: str) -> None:
    conn.execute("DELETE FROM online_devices WHERE user_id = ? AND login_id = ?", (user_id, login_id))
    conn.execute(
        "UPDATE login_history SET logout_time = ?, logout_reason = ?"
        " WHERE user_id = ? AND login_id = ? AND logout_time IS NULL",
        (now_ms, reason, user_id, login_id),
    )


def _online_devices(conn: Connection, user_id: str) -> list[DeviceRecord]:
    return online_devices_by_user(online_devices_in(conn, *in_marks([user_id]))).get(user_id, [])


def online_devices_in(conn: Connection, marks: str, keys: list[str]) -> Cursor:
    """Send the query of the online devices of the accounts `keys` names (`in_marks`; read it with `online_devices_by_user`)."""
    return conn.execute(
        f"SELECT user_id, login_id, device_id, platform, device_name, login_time FROM online_devices WHERE user_id IN {marks}"
        " ORDER BY user_id, login_time, id",
        keys,
    )


def online_devices_by_user(sent: Cursor) -> dict[str, list[DeviceRecord]]:
    """Each account's online devices, in login order (accounts with none are left out)."""
    online: dict[str, list[DeviceRecord]] = {}
    for user, *device in sent.fetchall():
        online.setdefault(user, []).append(DeviceRecord(*device))
    return online


def _node_devices(conn: Connection, node: str) -> list[tuple[str, DeviceRecord]]:
    rows = conn.execute(
        "SELECT user_id, login_id, device_id, platform, device_name, login_time FROM online_devices"
        " WHERE node = ? ORDER BY login_time, id",
        (node,),
    )
    return [(row[0], DeviceRecord(*row[1:])) for row in rows]


def _clear_node_devices(conn: Connection, node: str, now_ms: int, webhooks: Sequence[WebhookRow]) -> int:
    queue_webhooks(conn, webhooks)
    conn.execute(
        "UPDATE login_history SET logout_time = ?, logout_reason = 'restart' WHERE logout_time IS NULL"
        " AND login_id IN (SELECT login_id FROM online_devices WHERE node = ?)",
        (now_ms, node),
    )
    return conn.execute("DELETE FROM online_devices WHERE node = ?", (node,)).rowcount


def _login_history(
    conn: Connection, user_id: str, limit: int
) -> list[tuple[DeviceRecord, int | None, str | None]]:
    rows = conn.execute(
        "SELECT login_id, device_id, platform, device_name, login_time, logout_time, logout_reason"
        " FROM login_history WHERE user_id = ? ORDER BY login_time DESC, id DESC LIMIT ?",
        (user_id, limit),
    )
    return [(DeviceRecord(*row[:5]), row[5], row[6]) for row in rows]


def _head_seq(conn: Connection, user_id: str) -> int | None:
    row = conn.execute("SELECT head_seq FROM accounts WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else int(row[0])


# One stream row per append: a single event is a row of its own (name, payload,
# time, only_device); several events of one append (one commit: a delivery's
# messageReceived, conversationChanged and totalUnread) share one row, whose
# name is PACKED, seq the first event's, time the last event's, and payload a
# CBOR array of [seq, name, payload, time, only_device] per event. A group
# fan-out writes one stream row per member instead of one per event. Rows
# never overlap in seqs, so the (user_id, seq) index orders them.
PACKED = ""  # no event's wire name is empty


def _stream_row(user_id: str, events: Sequence[StoredEvent]) -> tuple[str, int, str, bytes, int, str | None]:
    first = events[0]
    if len(events) == 1:
        return (user_id, first.seq, first.name, first.payload, first.time, first.only_device)
    packed = cbor2.dumps([[e.seq, e.name, e.payload, e.time, e.only_device] for e in events])
    return (user_id, first.seq, PACKED, packed, events[-1].time, None)


def _unpacked(seq: int, name: str, payload: bytes, time: int, only_device: str | None) -> list[StoredEvent]:
    """The events of one stream row, ascending."""
    if name != PACKED:
        return [StoredEvent(seq, name, bytes(payload), time, only_device)]
    return [StoredEvent(s, n, p, t, d) for s, n, p, t, d in cbor2.loads(bytes(payload))]


def _append_events(conn: Connection, user_id: str, events: Sequence[StoredEvent]) -> None:
    """Append events above the account's head (creating the account if new), as one row; the head moves to the last."""
    first, last = events[0].seq, events[-1].seq
    if any(later.seq <= earlier.seq for earlier, later in pairwise(events)):
        raise ValueError(f"account={user_id} seqs {[e.seq for e in events]} are not increasing")
    # one statement in the common case: the head moves only from below the first new seq
    moved = conn.execute(
        "UPDATE accounts SET head_seq = ? WHERE user_id = ? AND head_seq < ?", (last, user_id, first)
    ).rowcount
    if not moved:
        head = _head_seq(conn, user_id)
        if head is not None:
            raise ValueError(f"account={user_id} seq {first} is not above {head}")
        conn.execute("INSERT INTO accounts (user_id, created_time, head_seq) VALUES (?, ?, ?)", (user_id, events[0].time, last))
    conn.execute(_INSERT_STREAM_ROW, _stream_row(user_id, events))


_INSERT_STREAM_ROW = "INSERT INTO stream_events (user_id, seq, name, payload, time, only_device) VALUES (?, ?, ?, ?, ?, ?)"
_STREAM_COLUMNS = "seq, name, payload, time, only_device"


def _events_after(conn: Connection, user_id: str, after_seq: int, limit: int) -> list[StoredEvent]:
    # from the row that holds after_seq + 1 (it may begin at or below after_seq): each row holds one event at least
    rows = conn.execute(
        f"SELECT {_STREAM_COLUMNS} FROM stream_events WHERE user_id = ? AND seq >= COALESCE("
        "(SELECT MAX(seq) FROM stream_events WHERE user_id = ? AND seq <= ?), 0) ORDER BY seq LIMIT ?",
        (user_id, user_id, after_seq, limit + 1),
    ).fetchall()
    return [e for row in rows for e in _unpacked(*row) if e.seq > after_seq][:limit]


# The stream's head and oldest seq, and whether deliveries wait in the outbox, in one statement.
_BOUNDS = (
    "SELECT (SELECT head_seq FROM accounts WHERE user_id = ?), (SELECT MIN(seq) FROM stream_events WHERE user_id = ?),"
    " EXISTS (SELECT 1 FROM outbox WHERE user_id = ?)"
)


def _stream_bounds(conn: Connection, user_id: str) -> tuple[int, int]:
    oldest, head, _ = bounds_and_pending(bounds_and_pending_of(conn, user_id))
    return oldest, head


def bounds_and_pending_of(conn: Connection, user_id: str) -> Cursor:
    """Send the query of the stream's bounds and whether deliveries wait for the account (read it with `bounds_and_pending`)."""
    return conn.execute(_BOUNDS, (user_id, user_id, user_id))


def bounds_and_pending(sent: Cursor) -> tuple[int, int, bool]:
    """(oldest seq, head seq, whether deliveries wait for the account)."""
    head, oldest, pending = sent.fetchone()
    head = int(head or 0)
    return (head + 1 if oldest is None else int(oldest)), head, bool(pending)


def _trim_stream(conn: Connection, user_id: str, keep_count: int, min_time_ms: int) -> int:
    """Drop all but the newest `keep_count` events, and every event older than `min_time_ms`; return how many.

    Events are stamped in seq order, so the events too old to keep are a
    prefix of the stream: found by walking the (user_id, seq) index from the
    oldest. A row cut through keeps its newer events, rewritten as a row of their own.
    """
    head = _head_seq(conn, user_id) or 0
    young = conn.execute(
        f"SELECT {_STREAM_COLUMNS} FROM stream_events WHERE user_id = ? AND time >= ? ORDER BY seq LIMIT 1", (user_id, min_time_ms)
    ).fetchone()
    first_young = head + 1 if young is None else next(e.seq for e in _unpacked(*young) if e.time >= min_time_ms)
    cut = max(head - keep_count + 1, first_young)
    below = [e for row in conn.execute(
        f"SELECT {_STREAM_COLUMNS} FROM stream_events WHERE user_id = ? AND seq < ? ORDER BY seq", (user_id, cut)
    ) for e in _unpacked(*row)]
    conn.execute("DELETE FROM stream_events WHERE user_id = ? AND seq < ?", (user_id, cut))
    kept = [e for e in below if e.seq >= cut]  # the newer events of a row cut through
    if kept:
        conn.execute(_INSERT_STREAM_ROW, _stream_row(user_id, kept))
    conn.execute(_DROP_SPENT_SEND_KEYS, (user_id, user_id, IDEMPOTENCY_WINDOW_MS))
    return len(below) - len(kept)


# A sender's clientMessageID keys older than the window before its newest one:
# any later send is past their window, so they could only ever be taken over.
_DROP_SPENT_SEND_KEYS = (
    "DELETE FROM send_keys WHERE sender = ?"
    " AND sent_ms < (SELECT max(sent_ms) FROM send_keys WHERE sender = ?) - ?"
)
