"""WebhookStore in the SQL both engines speak (see `sql`): the queue of calls to the application backend.

Each account's oldest call that is not set aside is marked `head`; every
write that adds, delivers, sets aside, retries or drops a call keeps that
mark in the same transaction, so the worker's read of the due heads walks a
partial index of one entry per account, not the whole backlog.

A worker claims the due heads it is about to call (`_claim`): its node's
name in `claimed_by` and the claim's expiry as `next_attempt`, so no other
worker sees them due until then. On a shared store (PostgreSQL) the heads
are picked `FOR UPDATE SKIP LOCKED`: two nodes claiming at once take
different calls and neither waits for the other. Every outcome is written
only where the claim is still the row's (`_HELD`): a node whose claim
expired and was taken over changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .base import QueuedWebhook, WebhookClaims, WebhookHold, WebhookRow
from .sql import Connection

_COLUMNS = "queue_id, delivery_id, account, event, body, queued_time, attempts, next_attempt, retry_from, last_error, failed"


def queue_webhooks(conn: Connection, rows: Sequence[WebhookRow]) -> None:
    """Queue calls in the caller's transaction (the change that causes them); a call is its account's head if none waits before it.

    Each account's head is locked first (a no-op write): on PostgreSQL a
    delivery removing that head in another node's open transaction is then
    waited for, and the new call sees the head it promoted, or none. Without
    the lock, the new call would see the leaving head and not be marked,
    while the delivery's promotion could not see the new call: an account
    with calls waiting and no head, never called again.
    """
    if rows:
        conn.executemany(
            "UPDATE webhook_queue SET head = 1 WHERE failed = 0 AND account = ? AND head = 1",
            [(account,) for account in sorted({r.account for r in rows})],
        )
        conn.executemany(
            "INSERT INTO webhook_queue (delivery_id, account, event, body, queued_time, retry_from, next_attempt, head)"
            " SELECT ?, ?, ?, ?, ?, ?, ?,"
            " CASE WHEN EXISTS (SELECT 1 FROM webhook_queue WHERE failed = 0 AND account = ?) THEN 0 ELSE 1 END",
            [(r.delivery_id, r.account, r.event, r.body, r.queued_time, r.queued_time, r.queued_time, r.account) for r in rows],
        )


def _queued(r: Sequence[Any]) -> QueuedWebhook:
    row = WebhookRow(r[1], r[2], r[3], bytes(r[4]), r[5])
    return QueuedWebhook(r[0], row, r[6], r[7], r[8], r[9], bool(r[10]))


def _heads(conn: Connection, limit: int) -> list[QueuedWebhook]:
    # the partial index webhook_queue_due holds one entry per account with calls waiting
    rows = conn.execute(f"SELECT {_COLUMNS} FROM webhook_queue WHERE head = 1 ORDER BY next_attempt, queue_id LIMIT ?", (limit,))
    return [_queued(r) for r in rows]


def _claim(conn: Connection, holder: str, limit: int, now_ms: int, until_ms: int, lock: str) -> WebhookClaims:
    """Claim the due heads (see the module docstring); `lock` is the engine's row-locking clause of the pick."""
    # Picked once (MATERIALIZED): as a plain IN (subquery), PostgreSQL may run a locking
    # subquery again per row, and its LIMIT would then not bound the claim.
    rows = conn.execute(
        "WITH picked AS MATERIALIZED (SELECT queue_id FROM webhook_queue WHERE head = 1 AND next_attempt <= ?"
        f" ORDER BY next_attempt, queue_id LIMIT ?{lock})"
        " UPDATE webhook_queue SET claimed_by = ?, next_attempt = ?"
        f" WHERE queue_id IN (SELECT queue_id FROM picked) AND head = 1 AND next_attempt <= ? RETURNING {_COLUMNS}",
        (now_ms, limit, holder, until_ms, now_ms),
    ).fetchall()
    calls = sorted((_queued(r) for r in rows), key=lambda c: c.queue_id)
    (next_due,) = conn.execute("SELECT MIN(next_attempt) FROM webhook_queue WHERE head = 1").fetchone()
    return WebhookClaims(calls, None if next_due is None else int(next_due))


def _release(conn: Connection, holder: str | None, now_ms: int) -> int:
    where, args = ("claimed_by <> ''", ()) if holder is None else ("claimed_by = ?", (holder,))
    return conn.execute(f"UPDATE webhook_queue SET claimed_by = '', next_attempt = ? WHERE head = 1 AND {where}", (now_ms, *args)).rowcount


_HELD = "queue_id = ? AND claimed_by = ? AND next_attempt = ?"  # the call, while `hold` is still its claim


def _held(queue_id: int, hold: WebhookHold) -> tuple[int, str, int]:
    return (queue_id, hold.holder, hold.until)


def remove_delivered(conn: Connection, queue_id: int, hold: WebhookHold) -> bool:
    """Remove a delivered call while `hold` is still its claim (its account's next call becomes the head)."""
    return _leave(conn, _HELD, _held(queue_id, hold), None) > 0


def _promote(conn: Connection, account: str) -> None:
    """Mark the account's oldest call that is not set aside as its head (after its head left)."""
    conn.execute(
        "UPDATE webhook_queue SET head = 1"
        " WHERE queue_id = (SELECT MIN(queue_id) FROM webhook_queue WHERE failed = 0 AND account = ?)",
        (account,),
    )


def _reseat(conn: Connection, account: str) -> None:
    """The account's head again from scratch (a call older than its head came back from the side)."""
    conn.execute("UPDATE webhook_queue SET head = 0 WHERE failed = 0 AND account = ? AND head = 1", (account,))
    _promote(conn, account)


def _leave(conn: Connection, where: str, args: Sequence[Any], set_aside: tuple[int, str] | None) -> int:
    """Delete the calls matching `where` (or set them aside: attempts, error); heads that left are followed by the next."""
    gone = conn.execute(f"SELECT account, head FROM webhook_queue WHERE {where}", args).fetchall()
    if set_aside is None:
        count = conn.execute(f"DELETE FROM webhook_queue WHERE {where}", args).rowcount
    else:
        attempts, error = set_aside
        sql = f"UPDATE webhook_queue SET attempts = ?, last_error = ?, failed = 1, head = 0, claimed_by = '' WHERE {where}"
        count = conn.execute(sql, (attempts, error[:500], *args)).rowcount
    for account in sorted({account for account, head in gone if head}):
        _promote(conn, account)
    return count


def _retry_now(conn: Connection, delivery_id: str | None, now_ms: int) -> int:
    where, args = ("failed = 1", ()) if delivery_id is None else ("delivery_id = ?", (delivery_id,))
    accounts = sorted({r[0] for r in conn.execute(f"SELECT account FROM webhook_queue WHERE {where}", args)})
    count = conn.execute(
        f"UPDATE webhook_queue SET failed = 0, next_attempt = ?, retry_from = ?, claimed_by = '' WHERE {where}", (now_ms, now_ms, *args)
    ).rowcount
    for account in accounts:
        _reseat(conn, account)
    return count


def _list(conn: Connection, limit: int, set_aside: bool | None, account: str | None) -> list[QueuedWebhook]:
    where: list[str] = []
    args: list[Any] = []
    if set_aside is not None:
        where.append("failed = ?")
        args.append(1 if set_aside else 0)
    if account is not None:
        where.append("account = ?")
        args.append(account)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM webhook_queue{clause} ORDER BY queue_id LIMIT ?", (*args, limit))
    return [_queued(r) for r in rows]


def _counts(conn: Connection) -> tuple[int, int]:
    waiting, aside = 0, 0
    for failed, count in conn.execute("SELECT failed, COUNT(*) FROM webhook_queue GROUP BY failed"):
        if failed:
            aside = int(count)
        else:
            waiting = int(count)
    return waiting, aside


class SqlWebhookStore:
    """WebhookStore methods; mixed into a store class, which provides read/write."""

    write: Callable[..., Awaitable[Any]]
    read: Callable[..., Awaitable[Any]]
    shared: bool

    async def webhook_heads(self, limit: int) -> list[QueuedWebhook]:
        found: list[QueuedWebhook] = await self.read(lambda conn: _heads(conn, limit))
        return found

    async def webhook_claim(self, holder: str, limit: int, now_ms: int, until_ms: int) -> WebhookClaims:
        lock = " FOR UPDATE SKIP LOCKED" if self.shared else ""  # one process owns an unshared store: nobody to pass over
        claims: WebhookClaims = await self.write(lambda conn: _claim(conn, holder, limit, now_ms, until_ms, lock))
        return claims

    async def webhook_release(self, holder: str | None, now_ms: int) -> int:
        count: int = await self.write(lambda conn: _release(conn, holder, now_ms))
        return count

    async def webhook_delivered(self, queue_id: int, hold: WebhookHold) -> bool:
        removed: bool = await self.write(lambda conn: remove_delivered(conn, queue_id, hold))
        return removed

    async def webhook_retry_later(self, queue_id: int, hold: WebhookHold, attempts: int, next_attempt: int, error: str) -> bool:
        count: int = await self.write(
            lambda conn: conn.execute(
                f"UPDATE webhook_queue SET attempts = ?, next_attempt = ?, last_error = ?, claimed_by = '' WHERE {_HELD}",
                (attempts, next_attempt, error[:500], *_held(queue_id, hold)),
            ).rowcount
        )
        return count > 0

    async def webhook_set_aside(self, queue_id: int, hold: WebhookHold, attempts: int, error: str) -> bool:
        count: int = await self.write(lambda conn: _leave(conn, _HELD, _held(queue_id, hold), (attempts, error)))
        return count > 0

    async def webhook_counts(self) -> tuple[int, int]:
        found: tuple[int, int] = await self.read(_counts)
        return found

    async def webhook_list(self, limit: int, *, set_aside: bool | None = None, account: str | None = None) -> list[QueuedWebhook]:
        found: list[QueuedWebhook] = await self.read(lambda conn: _list(conn, limit, set_aside, account))
        return found

    async def webhook_retry_now(self, delivery_id: str | None, now_ms: int) -> int:
        count: int = await self.write(lambda conn: _retry_now(conn, delivery_id, now_ms))
        return count

    async def webhook_drop(self, delivery_id: str | None) -> int:
        where, args = ("failed = 1", ()) if delivery_id is None else ("delivery_id = ?", (delivery_id,))
        count: int = await self.write(lambda conn: _leave(conn, where, args, None))
        return count
