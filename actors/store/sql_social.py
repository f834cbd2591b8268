"""SocialStore in the SQL both engines speak (see `sql`): groups, friends, profiles."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .base import Fence, GroupRecord, GroupWrite, UserProfile
from .sql import Connection, upsert
from .sql_messages import _insert_message, queue_events
from .sql_threads import load_threads, write_threads
from .sql_webhooks import queue_webhooks


_SAVE_GROUP = upsert(
    "groups", ("group_id", "name", "notice", "attributes", "created_time", "last_seq", "dismissed", "join_mode"),
    ("group_id",),
)
_SAVE_MEMBER = upsert("group_members", ("group_id", "user_id", "role", "joined_time"), ("group_id", "user_id"))


def _load_group(conn: Connection, group_id: str) -> GroupRecord | None:
    row = conn.execute(
        "SELECT name, notice, attributes, created_time, last_seq, dismissed, join_mode FROM groups WHERE group_id = ?", (group_id,)
    ).fetchone()
    if row is None:
        return None
    members: dict[str, tuple[int, int]] = {}
    member_attributes: dict[str, dict[str, str]] = {}
    for user, role, joined, attributes in conn.execute(
        "SELECT user_id, role, joined_time, attributes FROM group_members WHERE group_id = ? ORDER BY joined_time, user_id", (group_id,)
    ):
        members[user] = (role, joined)
        if attributes != "{}":
            member_attributes[user] = json.loads(attributes)
    applications = {
        user: applied
        for user, applied in conn.execute(
            "SELECT user_id, applied_time FROM group_applications WHERE group_id = ? ORDER BY applied_time, user_id", (group_id,)
        )
    }
    barred = frozenset(user for (user,) in conn.execute("SELECT user_id FROM group_barred WHERE group_id = ?", (group_id,)))
    return GroupRecord(
        group_id, row[0], row[1], json.loads(row[2]), row[3], row[4], members, bool(row[5]), row[6], applications, barred, member_attributes,
        load_threads(conn, group_id),
    )


def _commit_group(conn: Connection, w: GroupWrite) -> list[int]:
    g = w.group
    conn.execute(
        _SAVE_GROUP,
        (g.group_id, g.name, g.notice, json.dumps(g.attributes), g.created_time, g.last_seq, g.dismissed, g.join_mode),
    )
    conn.executemany(
        _SAVE_MEMBER,
        [(g.group_id, user, role, joined) for user, role, joined in w.upsert_members],
    )
    conn.executemany("DELETE FROM group_members WHERE group_id = ? AND user_id = ?", [(g.group_id, u) for u in w.remove_members])
    conn.executemany(
        "UPDATE group_members SET attributes = ? WHERE group_id = ? AND user_id = ?",
        [(json.dumps(attributes, sort_keys=True), g.group_id, u) for u, attributes in w.member_attributes],
    )
    conn.executemany(
        "INSERT INTO group_applications VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [(g.group_id, u, t) for u, t in w.add_applications]
    )
    conn.executemany("DELETE FROM group_applications WHERE group_id = ? AND user_id = ?", [(g.group_id, u) for u in w.remove_applications])
    conn.executemany("INSERT INTO group_barred VALUES (?, ?) ON CONFLICT DO NOTHING", [(g.group_id, u) for u in w.bar])
    conn.executemany("DELETE FROM group_barred WHERE group_id = ? AND user_id = ?", [(g.group_id, u) for u in w.unbar])
    write_threads(conn, w)
    if w.new_message is not None:
        _insert_message(conn, w.new_message)
        placed = "thread_messages" if w.new_message.conversation_type == 3 else "group_messages"
        conn.execute(f"INSERT INTO {placed} VALUES (?, ?, ?)", (w.new_message.target, w.message_seq, w.new_message.message_id))
    conn.executemany("INSERT INTO outbox (user_id, message_id, exclude_login) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", list(w.deliveries))
    queue_webhooks(conn, w.webhooks)
    return queue_events(conn, w.member_events)


def _user_groups(conn: Connection, user_id: str) -> list[tuple[GroupRecord, int]]:
    rows = conn.execute(
        "SELECT g.group_id, g.name, g.notice, g.attributes, g.created_time, g.last_seq, m.role"
        " FROM group_members m JOIN groups g ON g.group_id = m.group_id"
        " WHERE m.user_id = ? AND g.dismissed = 0 ORDER BY m.joined_time, g.group_id",
        (user_id,),
    )
    return [(GroupRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], {}), r[6]) for r in rows]


def _group_applications(conn: Connection, user_id: str) -> list[tuple[str, str, int]]:
    rows = conn.execute(
        "SELECT a.group_id, a.user_id, a.applied_time FROM group_applications a JOIN groups g ON g.group_id = a.group_id"
        " WHERE g.dismissed = 0 AND (a.user_id = ? OR EXISTS (SELECT 1 FROM group_members m"
        " WHERE m.group_id = a.group_id AND m.user_id = ? AND m.role IN (1, 2)))"
        " ORDER BY a.applied_time, a.group_id, a.user_id",
        (user_id, user_id),
    )
    return [(r[0], r[1], r[2]) for r in rows]


class SqlSocialStore:
    """SocialStore methods; mixed into a store class, which provides read/write."""

    write: Callable[..., Awaitable[Any]]
    read: Callable[..., Awaitable[Any]]

    async def load_group(self, group_id: str) -> GroupRecord | None:
        found: GroupRecord | None = await self.read(lambda conn: _load_group(conn, group_id))
        return found

    async def commit_group(self, change: GroupWrite, *, fence: Fence | None = None) -> list[int]:
        ids: list[int] = await self.write(lambda conn: _commit_group(conn, change), fence=fence)
        return ids

    async def group_applications(self, user_id: str) -> list[tuple[str, str, int]]:
        found: list[tuple[str, str, int]] = await self.read(lambda conn: _group_applications(conn, user_id))
        return found

    async def user_groups(self, user_id: str) -> list[tuple[GroupRecord, int]]:
        found: list[tuple[GroupRecord, int]] = await self.read(lambda conn: _user_groups(conn, user_id))
        return found

    async def group_read_counts(self, message_ids: Sequence[str], *, counting: str | None = None) -> dict[str, int]:
        def count(conn: Connection) -> dict[str, int]:
            marks = ",".join("?" * len(message_ids))
            rows = conn.execute(
                f"SELECT message_id, COUNT(*), SUM(CASE WHEN user_id = ? THEN 1 ELSE 0 END) FROM message_reads WHERE message_id IN ({marks}) GROUP BY message_id",
                (counting, *message_ids),
            )
            extra = 0 if counting is None else 1  # `counting` is about to read those it has not read yet
            return {mid: extra for mid in message_ids} | {mid: n + (extra if not mine else 0) for mid, n, mine in rows}

        found: dict[str, int] = await self.read(count) if message_ids else {}
        return found

    async def profiles(self, user_ids: Sequence[str]) -> list[UserProfile]:
        def find(conn: Connection) -> list[UserProfile]:
            marks = ",".join("?" * len(user_ids))
            rows = conn.execute(
                f"SELECT user_id, COALESCE(user_name, ''), avatar_url, extended_data FROM accounts WHERE user_id IN ({marks})",
                tuple(user_ids),
            )
            return [UserProfile(*r) for r in rows]

        found: list[UserProfile] = await self.read(find) if user_ids else []
        return found

    async def friends(self, user_id: str) -> list[tuple[str, str, int]]:
        found: list[tuple[str, str, int]] = await self.read(
            lambda conn: conn.execute(
                "SELECT friend_id, wording, created_time FROM friends WHERE user_id = ? ORDER BY created_time, friend_id",
                (user_id,),
            ).fetchall()
        )
        return found

    async def friend_applications(self, user_id: str) -> list[tuple[str, str, str, int, int]]:
        found: list[tuple[str, str, str, int, int]] = await self.read(
            lambda conn: conn.execute(
                "SELECT from_user, to_user, wording, state, updated_time FROM friend_applications"
                " WHERE from_user = ? OR to_user = ? ORDER BY updated_time DESC",
                (user_id, user_id),
            ).fetchall()
        )
        return found
