"""WebhookStore in the SQL both engines speak (see `sql`): the queue of calls to the application backend.

Each account's oldest call that is not set aside is marked `head`; every
write that adds, delivers, sets aside, retries or drops a call keeps that
mark in the same transaction, so the worker's read of the due heads walks a
partial index of one entry per account, not the whole backlog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .base import QueuedWebhook, WebhookRow
from .sql import Connection

_COLUMNS = "queue_id, delivery_id, account, event, body, queued_time, attempts, next_attempt, retry_from, last_error, failed"


def queue_webhooks(conn: Connection, rows: Sequence[WebhookRow]) -> None:
    """Queue calls in the caller's transaction (the change that causes them); a call is its account's head if none waits before it."""
    if rows:
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
        sql = f"UPDATE webhook_queue SET attempts = ?, last_error = ?, failed = 1, head = 0 WHERE {where}"
        count = conn.execute(sql, (attempts, error[:500], *args)).rowcount
    for account in sorted({account for account, head in gone if head}):
        _promote(conn, account)
    return count


def _retry_now(conn: Connection, delivery_id: str | None, now_ms: int) -> int:
    where, args = ("failed = 1", ()) if delivery_id is None else ("delivery_id = ?", (delivery_id,))
    accounts = sorted({r[0] for r in conn.execute(f"SELECT account FROM webhook_queue WHERE {where}", args)})
    count = conn.execute(f"UPDATE webhook_queue SET failed = 0, next_attempt = ?, retry_from = ? WHERE {where}", (now_ms, now_ms, *args)).rowcount
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

    async def webhook_heads(self, limit: int) -> list[QueuedWebhook]:
        found: list[QueuedWebhook] = await self.read(lambda conn: _heads(conn, limit))
        return found

    async def webhook_delivered(self, queue_id: int) -> None:
        await self.write(lambda conn: _leave(conn, "queue_id = ?", (queue_id,), None))

    async def webhook_retry_later(self, queue_id: int, attempts: int, next_attempt: int, error: str) -> None:
        await self.write(
            lambda conn: conn.execute(
                "UPDATE webhook_queue SET attempts = ?, next_attempt = ?, last_error = ? WHERE queue_id = ?",
                (attempts, next_attempt, error[:500], queue_id),
            ).rowcount
        )

    async def webhook_set_aside(self, queue_id: int, attempts: int, error: str) -> None:
        await self.write(lambda conn: _leave(conn, "queue_id = ?", (queue_id,), (attempts, error)))

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
