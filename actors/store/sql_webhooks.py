"""WebhookStore in the SQL both engines speak (see `sql`): the queue of calls to the application backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .base import QueuedWebhook, WebhookRow
from .sql import Connection

_COLUMNS = "queue_id, delivery_id, account, event, body, queued_time, attempts, next_attempt, retry_from, last_error, failed"


def queue_webhooks(conn: Connection, rows: Sequence[WebhookRow]) -> None:
    """Queue calls in the caller's transaction (the change that causes them)."""
    if rows:
        conn.executemany(
            "INSERT INTO webhook_queue (delivery_id, account, event, body, queued_time, retry_from, next_attempt)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r.delivery_id, r.account, r.event, r.body, r.queued_time, r.queued_time, r.queued_time) for r in rows],
        )


def _queued(r: Sequence[Any]) -> QueuedWebhook:
    row = WebhookRow(r[1], r[2], r[3], bytes(r[4]), r[5])
    return QueuedWebhook(r[0], row, r[6], r[7], r[8], r[9], bool(r[10]))


def _heads(conn: Connection, limit: int) -> list[QueuedWebhook]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM webhook_queue WHERE queue_id IN"
        " (SELECT MIN(queue_id) FROM webhook_queue WHERE failed = 0 GROUP BY account)"
        " ORDER BY next_attempt, queue_id LIMIT ?",
        (limit,),
    )
    return [_queued(r) for r in rows]


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
        await self.write(lambda conn: conn.execute("DELETE FROM webhook_queue WHERE queue_id = ?", (queue_id,)).rowcount)

    async def webhook_retry_later(self, queue_id: int, attempts: int, next_attempt: int, error: str) -> None:
        await self.write(
            lambda conn: conn.execute(
                "UPDATE webhook_queue SET attempts = ?, next_attempt = ?, last_error = ? WHERE queue_id = ?",
                (attempts, next_attempt, error[:500], queue_id),
            ).rowcount
        )

    async def webhook_set_aside(self, queue_id: int, attempts: int, error: str) -> None:
        await self.write(
            lambda conn: conn.execute(
                "UPDATE webhook_queue SET attempts = ?, last_error = ?, failed = 1 WHERE queue_id = ?",
                (attempts, error[:500], queue_id),
            ).rowcount
        )

    async def webhook_counts(self) -> tuple[int, int]:
        found: tuple[int, int] = await self.read(_counts)
        return found

    async def webhook_list(self, limit: int, *, set_aside: bool | None = None, account: str | None = None) -> list[QueuedWebhook]:
        found: list[QueuedWebhook] = await self.read(lambda conn: _list(conn, limit, set_aside, account))
        return found

    async def webhook_retry_now(self, delivery_id: str | None, now_ms: int) -> int:
        sql = "UPDATE webhook_queue SET failed = 0, next_attempt = ?, retry_from = ?"
        args: tuple[Any, ...] = (now_ms, now_ms)
        if delivery_id is None:
            sql += " WHERE failed = 1"
        else:
            sql, args = sql + " WHERE delivery_id = ?", (*args, delivery_id)
        count: int = await self.write(lambda conn: conn.execute(sql, args).rowcount)
        return count

    async def webhook_drop(self, delivery_id: str | None) -> int:
        sql = "DELETE FROM webhook_queue WHERE failed = 1"
        args: tuple[Any, ...] = ()
        if delivery_id is not None:
            sql, args = "DELETE FROM webhook_queue WHERE delivery_id = ?", (delivery_id,)
        count: int = await self.write(lambda conn: conn.execute(sql, args).rowcount)
        return count
