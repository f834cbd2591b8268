"""A group delivery's stream write: one row per event (the layout it replaced, the baseline) against one row per append, in one run.

    .venv/bin/python -m scripts.bench_stream_rows --members 1000 --rounds 20

Each round appends, for each of `--members` accounts, the three events one
group delivery stores (messageReceived, conversationChanged, totalUnread,
payloads of a 1,000-member group's sizes) in one transaction, as the SQLite
writer does for a batch of the members' commits. Rounds alternate between
the two layouts, each on a fresh SQLite store of its own (migrated by the
store). It prints the writer's CPU time per member (process time, median of
the rounds; the commit's fsync is waiting, not CPU) and the SQLite
virtual-machine instructions per member (exact, the same on any machine;
counted in a round of their own, before the timed ones),
with the ratio of the new layout to the baseline.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence

import trio

from actors.store.base import StoredEvent
from actors.store.sql_accounts import _append_events
from scripts.writer_rounds import Way, run

RECEIVED = bytes(360)  # about a text message's groupMessageReceived frame
CHANGED = bytes(420)  # its conversationChanged (the conversation with that message as its last)
UNREAD = bytes(50)


def _one_row_per_event(conn: sqlite3.Connection, user_id: str, events: Sequence[StoredEvent]) -> None:
    """The baseline: the head moved, then one stream row per event."""
    conn.execute("UPDATE accounts SET head_seq = ? WHERE user_id = ? AND head_seq < ?", (events[-1].seq, user_id, events[0].seq))
    conn.executemany(
        "INSERT INTO stream_events (user_id, seq, name, payload, time, only_device) VALUES (?, ?, ?, ?, ?, ?)",
        [(user_id, e.seq, e.name, e.payload, e.time, e.only_device) for e in events],
    )


def _delivery(seq: int) -> list[StoredEvent]:
    return [
        StoredEvent(seq, "groupMessageReceived", RECEIVED, 1),
        StoredEvent(seq + 1, "conversationChanged", CHANGED, 1),
        StoredEvent(seq + 2, "conversationTotalUnreadMessageCountUpdated", UNREAD, 1),
    ]


class _Appends(Way):
    """Each round appends one delivery's events for every member."""

    def __init__(self, conn: sqlite3.Connection, members: int) -> None:
        super().__init__(conn, members)
        self.rounds = 0
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO accounts (user_id, created_time, head_seq) VALUES (?, 0, 0)", [(f"u{m}",) for m in range(members)])
        conn.execute("COMMIT")

    def prepare(self) -> None:
        self.rounds += 1

    def body(self) -> None:
        seq = self.rounds * 3 - 2
        for member in range(self.members):
            self.append(self.conn, f"u{member}", _delivery(seq))

    def append(self, conn: sqlite3.Connection, user_id: str, events: Sequence[StoredEvent]) -> None:
        _append_events(conn, user_id, events)


class _RowPerEvent(_Appends):
    def append(self, conn: sqlite3.Connection, user_id: str, events: Sequence[StoredEvent]) -> None:
        _one_row_per_event(conn, user_id, events)


async def main(argv: list[str] | None = None) -> int:
    return await run(__doc__, {"one row per event (baseline)": _RowPerEvent, "one row per append": _Appends}, argv)


if __name__ == "__main__":
    sys.exit(trio.run(main))
