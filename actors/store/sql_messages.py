"""MessageStore in the SQL both engines speak (see `sql`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import fields
from itertools import pairwise
from operator import attrgetter
from typing import Any, TypeVar

from ..ids import IDEMPOTENCY_WINDOW_MS
from .base import (
    AccountState, AccountWrite, AlreadyDelivered, ClientMessageIDTaken, ConversationRow, Fence, MessageRow, Pending,
    ViewedMessage,
)
from .coalesced import Coalesced
from .sql import Connection, Cursor, in_marks, upsert
from .sql_accounts import (
    _INSERT_STREAM_ROW,
    _append_events,
    _device_offline,
    _device_online,
    _ensure_account,
    _stream_row,
    online_devices_by_user,
    online_devices_in,
)
from .sql_webhooks import queue_webhooks
from .writer import Bulk

T = TypeVar("T")

_MESSAGE_COLUMNS = (
    "m.message_id, m.conversation_type, m.sender, m.target, m.type, m.body, m.body_is_text, m.extended_data,"
    " m.timestamp, m.client_message_id, m.has_receipt, m.receipt_status, m.is_revoked"
)
_VIEW_COLUMNS = f"{_MESSAGE_COLUMNS}, v.conversation_id, v.message_seq, v.direction"


def _message(row: Sequence[Any]) -> MessageRow:
    body = row[5].decode() if row[6] else bytes(row[5])
    return MessageRow(row[0], row[1], row[2], row[3], row[4], body, row[7], row[8], row[9], bool(row[10]), row[11], bool(row[12]))


def _viewed(row: Sequence[Any]) -> ViewedMessage:
    return ViewedMessage(_message(row), row[13], row[14], row[15])


# Take the sender's key for a new message, unless another message took it within the window.
_TAKE_SEND_KEY = (
    "INSERT INTO send_keys (sender, client_message_id, message_id, sent_ms) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (sender, client_message_id) DO UPDATE SET message_id = excluded.message_id, sent_ms = excluded.sent_ms"
    " WHERE send_keys.sent_ms < ?"
)


def _insert_message(conn: Connection, m: MessageRow) -> None:
    """Store a new message; one with a clientMessageID takes that key first (raises ClientMessageIDTaken)."""
    if m.client_message_id is not None:
        since = m.timestamp - IDEMPOTENCY_WINDOW_MS
        taken = conn.execute(_TAKE_SEND_KEY, (m.sender, m.client_message_id, m.message_id, m.timestamp, since)).rowcount
        if taken == 0:
            raise ClientMessageIDTaken(m.sender, m.client_message_id, since)
    is_text = isinstance(m.body, str)
    body = m.body.encode() if isinstance(m.body, str) else m.body
    conn.execute(
        "INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (m.message_id, m.conversation_type, m.sender, m.target, m.type, body, is_text, m.extended_data,
         m.timestamp, m.client_message_id, m.has_receipt, m.receipt_status, m.is_revoked),
    )


_SAVE_CONVERSATION = upsert(
    "conversations",
    ("user_id", "conversation_type", "conversation_id", "name", "last_seq", "read_seq", "unread", "last_message_id",
     "order_key", "is_pinned", "notification_status", "draft", "marks", "deleted"),
    ("user_id", "conversation_type", "conversation_id"),
)
_SAVE_FRIEND_APPLICATION = upsert(
    "friend_applications", ("from_user", "to_user", "wording", "state", "updated_time"), ("from_user", "to_user")
)
_SAVE_FRIEND = upsert("friends", ("user_id", "friend_id", "wording", "created_time"), ("user_id", "friend_id"))


def _save_conversation(conn: Connection, user_id: str, c: ConversationRow) -> None:
    conn.execute(_SAVE_CONVERSATION, _conversation_values(user_id, c))


def _conversation_values(user_id: str, c: ConversationRow) -> tuple[Any, ...]:
    return (user_id, c.conversation_type, c.conversation_id, c.name, c.last_seq, c.read_seq, c.unread,
            c.last_message_id, c.order_key, c.is_pinned, c.notification_status, c.draft, json.dumps(list(c.marks)), c.deleted)


def _apply(conn: Connection, w: AccountWrite) -> list[int]:
    # A repeat must change nothing at all: its outbox row is gone, so the job
    # raises AlreadyDelivered before any row a repeat would clash with, and the
    # engine rolls back what it did. A delivery's events are appended first:
    # the stream's head check waits for the server once, and the outbox
    # counts come with it (PostgreSQL's pipeline: one round trip, not two).
    taken: list[tuple[Cursor, str]] = []
    if w.delivered is not None:
        taken.append((conn.execute("DELETE FROM outbox WHERE user_id = ? AND message_id = ?", (w.user_id, w.delivered)), w.delivered))
    if w.delivered_outbox is not None:
        taken.append((conn.execute("DELETE FROM outbox WHERE queued = ? AND user_id = ?", (w.delivered_outbox, w.user_id)), str(w.delivered_outbox)))
    events_first = bool(taken) and bool(w.events) and w.account is None
    if events_first:
        _append_events(conn, w.user_id, w.events)
    for deleted, which in taken:
        if deleted.rowcount == 0:
            raise AlreadyDelivered(which)
    return _apply_rows(conn, w, with_events=not events_first)


def _apply_rows(conn: Connection, w: AccountWrite, *, with_events: bool) -> list[int]:
    user = w.user_id
    # A login's account and device rows (see AccountStore and DeviceStore for what each does).
    if w.account is not None:
        _ensure_account(conn, user, *w.account)
    for login_id, at, reason in w.devices_offline:
        _device_offline(conn, user, login_id, at, reason)
    if w.device_online is not None:
        _device_online(conn, user, *w.device_online)
    if w.new_message is not None:
        _insert_message(conn, w.new_message)
    # Only the parts that are there: a group fan-out runs this for every member.
    _many(conn, "INSERT INTO message_views VALUES (?,?,?,?,?,?)",
          [(user, v.conversation_type, v.conversation_id, v.message_seq, v.message_id, v.direction) for v in w.views])
    _many(conn, "DELETE FROM message_views WHERE user_id = ? AND conversation_type = ? AND conversation_id = ? AND message_id = ?",
          [(user, t, c, m) for t, c, m in w.hide])
    _many(conn, "DELETE FROM message_views WHERE user_id = ? AND conversation_type = ? AND conversation_id = ?",
          [(user, t, c) for t, c in w.hide_all])
    for conversation in w.conversations:
        _save_conversation(conn, user, conversation)
    _many(conn, "INSERT INTO outbox (user_id, message_id) VALUES (?, ?) ON CONFLICT DO NOTHING", list(w.deliveries))
    if w.revoke is not None:
        conn.execute("UPDATE messages SET is_revoked = 1 WHERE message_id = ?", (w.revoke,))
    _many(conn, "UPDATE messages SET receipt_status = 2 WHERE message_id = ?", [(m,) for m in w.receipts_read])
    _many(conn, "INSERT INTO message_reads VALUES (?, ?) ON CONFLICT DO NOTHING", [(m, user) for m in w.group_reads])
    if w.profile is not None:
        conn.execute("UPDATE accounts SET user_name = ?, avatar_url = ?, extended_data = ? WHERE user_id = ?", (*w.profile, user))
    if w.friend_application is not None:
        conn.execute(_SAVE_FRIEND_APPLICATION, w.friend_application)
    _many(conn, _SAVE_FRIEND, list(w.friends_add))
    _many(conn, "DELETE FROM friends WHERE user_id = ? AND friend_id = ?", list(w.friends_remove))
    if w.events and with_events:
        _append_events(conn, user, w.events)
    queue_webhooks(conn, w.webhooks)
    return queue_events(conn, w.outbox_events) + queue_notices(conn, w.outbox_notices)


# What a delivery changes (a message taken into the account's view); every other field of its write is empty:
# its sequences hold nothing (an empty list counts, as the webhook calls a step hands over are) and its optionals are None.
_DELIVERY_FIELDS = ("user_id", "delivered", "views", "conversations", "events")
_OTHERS = [f for f in fields(AccountWrite) if f.name not in _DELIVERY_FIELDS]
_OTHER_SEQUENCES = attrgetter(*(f.name for f in _OTHERS if f.default == ()))
_OTHER_OPTIONALS = attrgetter(*(f.name for f in _OTHERS if f.default is None))
_NONES = tuple(None for f in _OTHERS if f.default is None)
assert all(f.default == () or f.default is None for f in _OTHERS), "every other field defaults to () or None"


def _is_delivery(w: AccountWrite) -> bool:
    return w.delivered is not None and bool(w.events) and not any(_OTHER_SEQUENCES(w)) and _OTHER_OPTIONALS(w) == _NONES


# as `_append_events`: the account is created with its first events, and its head moves only from below them
_MOVE_HEAD = (
    "INSERT INTO accounts (user_id, created_time, head_seq) VALUES (?, ?, ?)"
    " ON CONFLICT (user_id) DO UPDATE SET head_seq = excluded.head_seq WHERE accounts.head_seq < ?"
)


class _Delivery(Bulk):
    """One account taking a pending delivery (outbox row, view, conversation, stream row), as `_apply` does.

    A run of them (a group message reaching its members) is applied with one
    statement per table for them all. The counts of rows deleted and heads
    moved must match: if not (a repeat, seqs not above the head), the batch
    is retried job by job and `_apply` answers each.
    """

    __slots__ = ("change",)
    bulk_engines = frozenset({"sqlite", "postgresql"})  # both give executemany's rowcount as the sum over its rows

    def __init__(self, change: AccountWrite) -> None:
        self.change = change

    def __call__(self, conn: Connection) -> list[int]:
        return _apply(conn, self.change)

    @classmethod
    def apply_all(cls, conn: Connection, writes: Sequence[Any]) -> list[Any]:
        changes: list[AccountWrite] = [w.change for w in writes]
        taken = conn.executemany(
            "DELETE FROM outbox WHERE user_id = ? AND message_id = ?", [(c.user_id, c.delivered) for c in changes]
        ).rowcount
        if taken != len(changes):
            raise AlreadyDelivered(f"{len(changes) - taken} of {len(changes)} deliveries were taken before")
        _many(conn, "INSERT INTO message_views VALUES (?,?,?,?,?,?)", [
            (c.user_id, v.conversation_type, v.conversation_id, v.message_seq, v.message_id, v.direction) for c in changes for v in c.views
        ])
        _many(conn, _SAVE_CONVERSATION, [_conversation_values(c.user_id, row) for c in changes for row in c.conversations])
        for c in changes:
            if any(later.seq <= earlier.seq for earlier, later in pairwise(c.events)):
                raise ValueError(f"account={c.user_id} seqs {[e.seq for e in c.events]} are not increasing")
        moved = conn.executemany(_MOVE_HEAD, [(c.user_id, c.events[0].time, c.events[-1].seq, c.events[0].seq) for c in changes]).rowcount
        if moved != len(changes):
            raise ValueError(f"{len(changes) - moved} of {len(changes)} heads did not move: each write alone says why")
        _many(conn, _INSERT_STREAM_ROW, [_stream_row(c.user_id, c.events) for c in changes])
        return [[] for _ in changes]  # a delivery queues no outbox rows


def write_of(change: AccountWrite) -> Callable[[Connection], list[int]]:
    """What the writer runs for `change`: a delivery may be applied together with its neighbours in the batch (a group message's members)."""
    return _Delivery(change) if _is_delivery(change) else (lambda conn: _apply(conn, change))


def queue_events(conn: Connection, rows: Sequence[tuple[str, bytes, str | None]]) -> list[int]:
    """Put durable events in the outbox for other accounts; their outbox IDs, in order."""
    return [_queue(conn, "INSERT INTO outbox (user_id, events, exclude_login) VALUES (?, ?, ?) RETURNING queued", row) for row in rows]


def queue_notices(conn: Connection, rows: Sequence[tuple[str, bytes]]) -> list[int]:
    """Put notices in the outbox for other accounts; their outbox IDs, in order."""
    return [_queue(conn, "INSERT INTO outbox (user_id, notice) VALUES (?, ?) RETURNING queued", row) for row in rows]


def _queue(conn: Connection, sql: str, row: Sequence[Any]) -> int:
    # fetchall: a RETURNING statement is done only once its rows are read
    ((queued,),) = conn.execute(sql, row).fetchall()
    return int(queued)


def _many(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.executemany(sql, rows)


def _load_conversations(conn: Connection, user_id: str) -> list[tuple[ConversationRow, MessageRow | None]]:
    return _conversations_by_user(_conversations_in(conn, *in_marks([user_id]))).get(user_id, [])


def _conversations_in(conn: Connection, marks: str, keys: list[str]) -> Cursor:
    """Send the query of each conversation of the accounts `keys` names (`in_marks`), with its last message, in one statement."""
    return conn.execute(
        "SELECT c.conversation_type, c.conversation_id, c.name, c.last_seq, c.read_seq, c.unread, c.last_message_id, c.order_key,"
        f" c.is_pinned, c.notification_status, c.draft, c.marks, c.deleted, {_MESSAGE_COLUMNS}, c.user_id"
        f" FROM conversations c LEFT JOIN messages m ON m.message_id = c.last_message_id WHERE c.user_id IN {marks}",
        keys,
    )


def _conversations_by_user(sent: Cursor) -> dict[str, list[tuple[ConversationRow, MessageRow | None]]]:
    """Each account's conversations (accounts with none are left out)."""
    held: dict[str, list[tuple[ConversationRow, MessageRow | None]]] = {}
    for r in sent.fetchall():
        held.setdefault(r[-1], []).append(_conversation(r[:-1]))
    return held


def _conversation(r: Sequence[Any]) -> tuple[ConversationRow, MessageRow | None]:
    row = ConversationRow(r[1], r[0], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9], r[10], tuple(json.loads(r[11])), bool(r[12]))
    return row, None if r[13] is None else _message(r[13:])


def _history(
    conn: Connection, user_id: str, ctype: int, cid: str, count: int, next_seq: int | None, reverse: bool
) -> list[ViewedMessage]:
    base = (
        f"SELECT {_VIEW_COLUMNS} FROM message_views v JOIN messages m ON m.message_id = v.message_id"
        " WHERE v.user_id = ? AND v.conversation_type = ? AND v.conversation_id = ?"
    )
    if reverse:
        sql = base + " AND v.message_seq > ? ORDER BY v.message_seq ASC LIMIT ?"
        bound = 0 if next_seq is None else next_seq
    else:
        sql = base + " AND v.message_seq < ? ORDER BY v.message_seq DESC LIMIT ?"
        bound = 2**62 if next_seq is None else next_seq
    return [_viewed(r) for r in conn.execute(sql, (user_id, ctype, cid, bound, count))]


def _account_states(conn: Connection, user_ids: Sequence[str]) -> dict[str, AccountState]:
    """Every account's start state: five statements, sent before any is read (one round trip on PostgreSQL's pipeline)."""
    marks, keys = in_marks(user_ids)
    heads = conn.execute(f"SELECT user_id, head_seq FROM accounts WHERE user_id IN {marks}", keys)
    oldest = conn.execute(f"SELECT user_id, MIN(seq) FROM stream_events WHERE user_id IN {marks} GROUP BY user_id", keys)
    pending = conn.execute(f"SELECT DISTINCT user_id FROM outbox WHERE user_id IN {marks}", keys)
    devices, conversations = online_devices_in(conn, marks, keys), _conversations_in(conn, marks, keys)
    head_of = {user: int(head or 0) for user, head in heads.fetchall()}
    oldest_of = {user: int(seq) for user, seq in oldest.fetchall() if seq is not None}
    waiting = {user for (user,) in pending.fetchall()}
    online, held = online_devices_by_user(devices), _conversations_by_user(conversations)
    states = {}
    for user in user_ids:
        head = head_of.get(user, 0)
        states[user] = AccountState(oldest_of.get(user, head + 1), head, online.get(user, []), held.get(user, []), user in waiting)
    return states


def _pending_deliveries_of(conn: Connection, user_ids: Sequence[str]) -> dict[str, list[Pending]]:
    marks, keys = in_marks(user_ids)
    rows = conn.execute(
        f"SELECT {_MESSAGE_COLUMNS}, COALESCE(g.message_seq, t.message_seq), o.queued, o.events, o.exclude_login, o.notice, o.user_id"
        " FROM outbox o"
        " LEFT JOIN messages m ON m.message_id = o.message_id"
        " LEFT JOIN group_messages g ON g.message_id = o.message_id"
        " LEFT JOIN thread_messages t ON t.message_id = o.message_id"
        f" WHERE o.user_id IN {marks} ORDER BY o.user_id, o.queued",
        keys,
    )
    found: dict[str, list[Pending]] = {user: [] for user in user_ids}
    for r in rows:
        found[r[18]].append(Pending(r[14], None if r[0] is None else _message(r), r[13], r[15], r[16], r[17]))
    return found


class SqlMessageStore:
    """MessageStore methods; mixed into a store class, which provides read/write and the coalesced reads (`coalesced_reads`)."""

    write: Callable[..., Awaitable[Any]]
    read: Callable[..., Awaitable[Any]]
    coalesced_starts: Coalesced[str, AccountState]
    coalesced_pending: Coalesced[str, list[Pending]]

    def coalesced_reads(self, turns: int) -> None:
        """Set up the reads many accounts make at once, coalesced over `turns` read turns (the store's read connections)."""
        self.coalesced_starts = Coalesced(self.account_states, turns)
        self.coalesced_pending = Coalesced(self.pending_deliveries_of, turns)

    async def commit(self, change: AccountWrite, *, fence: Fence | None = None) -> list[int]:
        ids: list[int] = await self.write(write_of(change), fence=fence)
        return ids

    async def load_conversations(self, user_id: str) -> list[tuple[ConversationRow, MessageRow | None]]:
        result: list[tuple[ConversationRow, MessageRow | None]] = await self.read(lambda conn: _load_conversations(conn, user_id))
        return result

    async def account_state(self, user_id: str) -> AccountState:
        # coalesced with the other accounts starting now: one worker-thread hop and one snapshot for many
        state: AccountState = await self.coalesced_starts.get(user_id)
        return state

    async def account_states(self, user_ids: Sequence[str]) -> dict[str, AccountState]:
        """What each account restores when it starts, read in one snapshot (Coalesced reads call it)."""
        found: dict[str, AccountState] = await self.read(lambda conn: _account_states(conn, user_ids))
        return found

    async def find_client_message(self, sender: str, client_message_id: str, since_ms: int) -> MessageRow | None:
        def find(conn: Connection) -> MessageRow | None:
            row = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE m.sender = ? AND m.client_message_id = ? AND m.timestamp >= ?"
                " ORDER BY m.timestamp DESC LIMIT 1",
                (sender, client_message_id, since_ms),
            ).fetchone()
            return _message(row) if row else None

        found: MessageRow | None = await self.read(find)
        return found

    async def viewed(self, user_id: str, conversation_type: int, conversation_id: str, message_ids: Sequence[str]) -> list[ViewedMessage]:
        def find(conn: Connection) -> list[ViewedMessage]:
            marks = ",".join("?" * len(message_ids))
            rows = conn.execute(
                f"SELECT {_VIEW_COLUMNS} FROM message_views v JOIN messages m ON m.message_id = v.message_id"
                f" WHERE v.user_id = ? AND v.conversation_type = ? AND v.conversation_id = ? AND v.message_id IN ({marks})"
                " ORDER BY v.message_seq",
                (user_id, conversation_type, conversation_id, *message_ids),
            )
            return [_viewed(r) for r in rows]

        found: list[ViewedMessage] = await self.read(find) if message_ids else []
        return found

    async def view_of(self, user_id: str, message_id: str) -> ViewedMessage | None:
        def find(conn: Connection) -> ViewedMessage | None:
            row = conn.execute(
                f"SELECT {_VIEW_COLUMNS} FROM message_views v JOIN messages m ON m.message_id = v.message_id"
                " WHERE v.message_id = ? AND v.user_id = ?",
                (message_id, user_id),
            ).fetchone()
            return _viewed(row) if row else None

        found: ViewedMessage | None = await self.read(find)
        return found

    async def message_holders(self, message_id: str) -> list[str]:
        found: list[str] = await self.read(
            lambda conn: [r[0] for r in conn.execute("SELECT user_id FROM message_views WHERE message_id = ? ORDER BY user_id", (message_id,))]
        )
        return found

    async def history(
        self, user_id: str, conversation_type: int, conversation_id: str, count: int, next_seq: int | None, reverse: bool
    ) -> list[ViewedMessage]:
        found: list[ViewedMessage] = await self.read(
            lambda conn: _history(conn, user_id, conversation_type, conversation_id, count, next_seq, reverse)
        )
        return found

    async def unread_receipts(self, user_id: str, conversation_type: int, conversation_id: str) -> list[ViewedMessage]:
        def find(conn: Connection) -> list[ViewedMessage]:
            rows = conn.execute(
                f"SELECT {_VIEW_COLUMNS} FROM message_views v JOIN messages m ON m.message_id = v.message_id"
                " WHERE v.user_id = ? AND v.conversation_type = ? AND v.conversation_id = ? AND v.direction = 1"
                " AND m.has_receipt = 1 AND m.receipt_status = 1 ORDER BY v.message_seq",
                (user_id, conversation_type, conversation_id),
            )
            return [_viewed(r) for r in rows]

        found: list[ViewedMessage] = await self.read(find)
        return found

    async def pending_deliveries(self, user_id: str) -> list[Pending]:
        # coalesced with the other accounts taking theirs now (a burst of group asks, a takeover)
        found: list[Pending] = await self.coalesced_pending.get(user_id)
        return found

    async def pending_deliveries_of(self, user_ids: Sequence[str]) -> dict[str, list[Pending]]:
        """Each user's outbox rows, in queue order, read in one statement (Coalesced reads call it)."""
        found: dict[str, list[Pending]] = await self.read(lambda conn: _pending_deliveries_of(conn, user_ids))
        return found

    async def users_with_pending_deliveries(self) -> list[str]:
        found: list[str] = await self.read(
            lambda conn: [r[0] for r in conn.execute("SELECT DISTINCT user_id FROM outbox")]
        )
        return found
