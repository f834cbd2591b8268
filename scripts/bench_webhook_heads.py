"""The webhook worker's read of due heads against the backlog: the grouped read it replaced as the baseline, in one run.

    .venv/bin/python scripts/bench_webhook_heads.py --accounts 100 --backlogs 1,100,1000

For each backlog (calls waiting per account) it fills a fresh SQLite store
through the store's own commit, then runs both reads on the same file: the
grouped read (MIN(queue_id) per account over the whole queue, before SQLite
0014) and the read of the marked heads. It prints SQLite virtual-machine
instructions per read (exact, the same on any machine) and the median time
of `--repeat` reads, with the ratio of the baseline to the marked read.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import trio

from actors.store.base import AccountWrite, WebhookRow
from actors.store.sql_webhooks import _COLUMNS, _heads
from actors.store.sqlite import DB_FILE_NAME, open_sqlite_store

LIMIT = 8  # the worker reads max_in_flight heads (8 by default)
GROUPED = (
    f"SELECT {_COLUMNS} FROM webhook_queue WHERE queue_id IN"
    " (SELECT MIN(queue_id) FROM webhook_queue WHERE failed = 0 GROUP BY account)"
    " ORDER BY next_attempt, queue_id LIMIT ?"
)

Read = Callable[[sqlite3.Connection], object]


def _grouped(conn: sqlite3.Connection) -> list[Any]:
    return conn.execute(GROUPED, (LIMIT,)).fetchall()


def _marked(conn: sqlite3.Connection) -> object:
    return _heads(conn, LIMIT)


def _vm_steps(conn: sqlite3.Connection, read: Read) -> int:
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(tick, 1)
    read(conn)
    conn.set_progress_handler(None, 1)
    return steps


def _median_us(conn: sqlite3.Connection, read: Read, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        read(conn)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


async def _fill(data_dir: Path, accounts: int, backlog: int) -> None:
    async with open_sqlite_store(data_dir) as store:
        for a in range(accounts):
            rows = [WebhookRow(f"d{a}-{n}", f"u{a}", "messageSent", b'{"userID":"u%d"}' % a, n) for n in range(backlog)]
            await store.commit(AccountWrite(user_id=f"u{a}", webhooks=rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--backlogs", default="1,100,1000", help="calls waiting per account, comma-separated")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    backlogs = [int(b) for b in args.backlogs.split(",")]
    print(f"heads read (LIMIT {LIMIT}), {args.accounts} accounts; median of {args.repeat} reads")
    print(f"{'calls/account':>14}{'grouped steps':>15}{'marked steps':>14}{'grouped µs':>12}{'marked µs':>11}{'ratio':>8}")
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-heads-") as tmp:
        for backlog in backlogs:
            data_dir = Path(tmp) / str(backlog)
            trio.run(_fill, data_dir, args.accounts, backlog)
            with closing(sqlite3.connect(data_dir / DB_FILE_NAME)) as conn:
                assert [r[0] for r in _grouped(conn)] == [h.queue_id for h in _heads(conn, LIMIT)]  # the same heads
                steps = (_vm_steps(conn, _grouped), _vm_steps(conn, _marked))
                micros = (_median_us(conn, _grouped, args.repeat), _median_us(conn, _marked, args.repeat))
            print(f"{backlog:>14}{steps[0]:>15}{steps[1]:>14}{micros[0]:>12.0f}{micros[1]:>11.0f}{micros[0] / micros[1]:>7.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
