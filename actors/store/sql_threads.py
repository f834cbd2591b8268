"""Threads (PROTOCOL.md §15) in the SQL both engines speak (see `sql`): rows written with their group's step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .base import GroupWrite, ThreadRecord
from .sql import Connection, upsert
from .sql_messages import _MESSAGE_COLUMNS, _message

_SAVE_THREAD = upsert(
    "threads", ("thread_id", "group_id", "parent_message_id", "name", "owner", "created_time", "last_seq", "last_message_id"),
    ("thread_id",),
)
_THREAD_COLUMNS = "t.thread_id, t.group_id, t.parent_message_id, t.name, t.owner, t.created_time, t.last_seq"


def _threads(conn: Connection, where: str, parameters: tuple[Any, ...]) -> list[ThreadRecord]:
    """Threads (with members and last message) picked by `where` over `threads t`, in its order."""
    rows = conn.execute(
        f"SELECT {_THREAD_COLUMNS}, {_MESSAGE_COLUMNS} FROM threads t LEFT JOIN messages m ON m.message_id = t.last_message_id {where}",
        parameters,
    ).fetchall()
    found = []
    for r in rows:
        members = {
            user: joined
            for user, joined in conn.execute(
                "SELECT user_id, joined_time FROM thread_members WHERE thread_id = ? ORDER BY joined_time, user_id", (r[0],)
            )
        }
        last = None if r[7] is None else _message(r[7:])
        found.append(ThreadRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], members, last))
    return found


def load_threads(conn: Connection, group_id: str) -> dict[str, ThreadRecord]:
    """The group's live threads by threadID, oldest first."""
    return {t.thread_id: t for t in _threads(conn, "WHERE t.group_id = ? ORDER BY t.created_time, t.thread_id", (group_id,))}


def write_threads(conn: Connection, w: GroupWrite) -> None:
    """The thread part of a group step: thread rows, members joining and leaving, destroyed threads."""
    conn.executemany(
        _SAVE_THREAD,
        [
            (t.thread_id, t.group_id, t.parent_message_id, t.name, t.owner, t.created_time, t.last_seq,
             None if t.last_message is None else t.last_message.message_id)
            for t in w.threads
        ],
    )
    conn.executemany(
        "INSERT INTO thread_members VALUES (?, ?, ?) ON CONFLICT DO NOTHING", list(w.thread_joins)
    )
    conn.executemany("DELETE FROM thread_members WHERE thread_id = ? AND user_id = ?", list(w.thread_leaves))
    conn.executemany("DELETE FROM thread_members WHERE thread_id = ?", [(t,) for t in w.drop_threads])
    conn.executemany("DELETE FROM threads WHERE thread_id = ?", [(t,) for t in w.drop_threads])


class SqlThreadStore:
    """The thread reads of SocialStore; mixed into a store class, which provides read."""

    read: Callable[..., Awaitable[Any]]

    async def group_message_seq(self, group_id: str, message_id: str) -> int | None:
        def find(conn: Connection) -> int | None:
            row = conn.execute(
                "SELECT message_seq FROM group_messages WHERE group_id = ? AND message_id = ?", (group_id, message_id)
            ).fetchone()
            return None if row is None else int(row[0])

        found: int | None = await self.read(find)
        return found

    async def thread_group(self, thread_id: str) -> str | None:
        def find(conn: Connection) -> str | None:
            row = conn.execute("SELECT group_id FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
            return None if row is None else str(row[0])

        found: str | None = await self.read(find)
        return found

    async def thread_members(self, thread_id: str) -> list[str]:
        found: list[str] = await self.read(
            lambda conn: [
                r[0] for r in conn.execute(
                    "SELECT user_id FROM thread_members WHERE thread_id = ? ORDER BY joined_time, user_id", (thread_id,)
                )
            ]
        )
        return found

    async def joined_threads(self, user_id: str, count: int, offset: int) -> tuple[list[ThreadRecord], bool]:
        def find(conn: Connection) -> tuple[list[ThreadRecord], bool]:
            page = _threads(
                conn,
                "WHERE t.thread_id IN (SELECT thread_id FROM thread_members WHERE user_id = ?)"
                " ORDER BY t.created_time, t.thread_id LIMIT ? OFFSET ?",
                (user_id, count + 1, offset),
            )
            return page[:count], len(page) > count

        found: tuple[list[ThreadRecord], bool] = await self.read(find)
        return found
