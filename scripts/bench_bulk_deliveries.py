"""A group message's deliveries in one writer batch: each applied alone (the baseline) against applied together, in one run.

    .venv/bin/python -m scripts.bench_bulk_deliveries --members 1000 --rounds 20

Each round stores a group message with a pending delivery (outbox row) for
each of `--members` accounts, untimed, then takes every delivery as the
members' accounts do (the outbox row, the view row, the conversation row,
the stream row of the delivery's three events, the head) in one
transaction, as the SQLite writer does for a batch of the members' commits:
either one write after the other (`_apply`, each job alone) or all of them
together (`_Delivery.apply_all`, one statement per table). Rounds alternate
between the two, each on a fresh SQLite store of its own (migrated by the
store). It prints the writer's CPU time per member (process time, median of
the rounds; the commit's fsync is waiting, not CPU) and the SQLite
virtual-machine instructions per member (exact; counted in a round of their
own, before the timed ones), with the ratio of the two.
"""

from __future__ import annotations

import sqlite3
import sys

import trio

from actors.store.base import AccountWrite, ConversationRow, GroupRecord, GroupWrite, MessageRow, StoredEvent, ViewRow
from actors.store.sql_messages import _apply, _Delivery
from actors.store.sql_social import _commit_group
from scripts.writer_rounds import Way, run

RECEIVED = bytes(360)  # about a text message's groupMessageReceived frame
CHANGED = bytes(420)  # its conversationChanged (the conversation with that message as its last)
UNREAD = bytes(50)


def _taking(user_id: str, message: MessageRow, group_seq: int) -> AccountWrite:
    """A member's delivery of the group's message `group_seq` (its three events packed in one stream row)."""
    seq = group_seq * 3 - 2
    return AccountWrite(
        user_id,
        events=[StoredEvent(seq, "groupMessageReceived", RECEIVED, 1), StoredEvent(seq + 1, "conversationChanged", CHANGED, 1),
                StoredEvent(seq + 2, "conversationTotalUnreadMessageCountUpdated", UNREAD, 1)],
        views=[ViewRow(2, "g1", group_seq, message.message_id, 1)],
        conversations=[ConversationRow("g1", 2, last_seq=group_seq, unread=group_seq, last_message_id=message.message_id, order_key=1)],
        delivered=message.message_id,
    )


class _OneByOne(Way):
    """Each round: a group message stored with every member's pending delivery (untimed), then every member takes it, each write alone."""

    def __init__(self, conn: sqlite3.Connection, members: int) -> None:
        super().__init__(conn, members)
        self.users = [f"u{m}" for m in range(members)]
        self.group = GroupRecord("g1", "Team", "", {}, 1, 0, {})
        self.writes: list[AccountWrite] = []
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO accounts (user_id, created_time, head_seq) VALUES (?, 0, 0)", [(u,) for u in self.users])
        _commit_group(conn, GroupWrite(self.group, upsert_members=[(u, 3, 1) for u in self.users]))
        conn.execute("COMMIT")

    def prepare(self) -> None:
        seq = self.group.last_seq + 1
        self.group = GroupRecord("g1", "Team", "", {}, 1, seq, {})
        message = MessageRow(f"gm{seq}", 2, "u0", "g1", 1, "hello", "", 1, None, False, 0)
        deliveries = [(u, message.message_id, None) for u in self.users]
        self.conn.execute("BEGIN")
        _commit_group(self.conn, GroupWrite(self.group, new_message=message, message_seq=seq, deliveries=deliveries))
        self.conn.execute("COMMIT")
        self.writes = [_taking(u, message, seq) for u in self.users]

    def body(self) -> None:
        for write in self.writes:
            _apply(self.conn, write)


class _Together(_OneByOne):
    def body(self) -> None:
        _Delivery.apply_all(self.conn, [_Delivery(write) for write in self.writes])


async def main(argv: list[str] | None = None) -> int:
    return await run(__doc__, {"each write alone (baseline)": _OneByOne, "applied together": _Together}, argv)


if __name__ == "__main__":
    sys.exit(trio.run(main))
