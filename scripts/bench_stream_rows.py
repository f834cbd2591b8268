"""A group delivery's stream write: one row per event (the layout it replaced, the baseline) against one row per append, in one run.

    .venv/bin/python scripts/bench_stream_rows.py --members 1000 --rounds 20

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

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import trio

from actors.store.base import StoredEvent
from actors.store.sql_accounts import _append_events
from actors.store.sqlite import DB_FILE_NAME, open_sqlite_store

Append = Callable[[sqlite3.Connection, str, Sequence[StoredEvent]], None]
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


async def _fresh(directory: Path) -> sqlite3.Connection:
    async with open_sqlite_store(directory):
        pass  # created and migrated by the store itself
    conn = sqlite3.connect(directory / DB_FILE_NAME, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class Layout:
    def __init__(self, conn: sqlite3.Connection, append: Append, members: int) -> None:
        self.conn, self.append, self.members = conn, append, members
        self.rounds = 0
        self.cpu_s: list[float] = []
        self.steps: list[int] = []
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO accounts (user_id, created_time, head_seq) VALUES (?, 0, 0)", [(f"u{m}",) for m in range(members)])
        conn.execute("COMMIT")

    def round(self, *, count: bool = False) -> None:
        """One delivery to every member: timed, or with its VM instructions counted (the counting costs CPU)."""
        steps = 0

        def tick() -> int:
            nonlocal steps
            steps += 1
            return 0

        seq = self.rounds * 3 + 1
        self.rounds += 1
        if count:
            self.conn.set_progress_handler(tick, 1)
        start = time.process_time()
        self.conn.execute("BEGIN IMMEDIATE")
        for member in range(self.members):
            self.append(self.conn, f"u{member}", _delivery(seq))
        self.conn.execute("COMMIT")
        elapsed = time.process_time() - start
        if count:
            self.conn.set_progress_handler(None, 1)
            self.steps.append(steps)
        else:
            self.cpu_s.append(elapsed)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20, help="rounds of each layout, alternating (the first of each not counted)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "rows").mkdir()
        (base / "packed").mkdir()
        with closing(await _fresh(base / "rows")) as rows_conn, closing(await _fresh(base / "packed")) as packed_conn:
            baseline = Layout(rows_conn, _one_row_per_event, args.members)
            packed = Layout(packed_conn, _append_events, args.members)
            for layout in (baseline, packed):
                layout.round(count=True)
            for _ in range(args.rounds + 1):
                baseline.round()
                packed.round()
            print(f"{args.members} members x {args.rounds} rounds (the first of each layout not counted)")
            for name, layout in (("one row per event (baseline)", baseline), ("one row per append", packed)):
                cpu = statistics.median(layout.cpu_s[1:]) / args.members * 1e6
                steps = layout.steps[0] / args.members
                print(f"{name:30} {cpu:7.1f} us CPU per member  {steps:7.0f} VM instructions per member")
            ratio_cpu = statistics.median(packed.cpu_s[1:]) / statistics.median(baseline.cpu_s[1:])
            ratio_steps = packed.steps[0] / baseline.steps[0]
            print(f"one row per append / baseline: CPU {ratio_cpu:.2f}x, VM instructions {ratio_steps:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
