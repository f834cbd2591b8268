"""Two ways of one writer transaction on fresh SQLite stores, timed in alternating rounds (scripts/bench_stream_rows.py, scripts/bench_bulk_deliveries.py)."""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from abc import ABC, abstractmethod
from contextlib import AsyncExitStack, closing
from pathlib import Path

from actors.store.sqlite import DB_FILE_NAME, open_sqlite_store


async def fresh(directory: Path) -> sqlite3.Connection:
    """A connection to a new store in `directory`, created and migrated by the store itself."""
    async with open_sqlite_store(directory):
        pass
    conn = sqlite3.connect(directory / DB_FILE_NAME, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class Way(ABC):
    """One way of the transaction, on a store of its own: its rounds' CPU times and VM instruction counts."""

    def __init__(self, conn: sqlite3.Connection, members: int) -> None:
        self.conn, self.members = conn, members
        self.cpu_s: list[float] = []
        self.steps: list[int] = []

    @abstractmethod
    def prepare(self) -> None:
        """What the next round needs stored first (untimed)."""

    @abstractmethod
    def body(self) -> None:
        """The round's statements, inside its transaction."""

    def round(self, *, count: bool = False) -> None:
        """One round: timed, or with its VM instructions counted (the counting costs CPU)."""
        self.prepare()
        steps = 0

        def tick() -> int:
            nonlocal steps
            steps += 1
            return 0

        if count:
            self.conn.set_progress_handler(tick, 1)
        start = time.process_time()
        self.conn.execute("BEGIN IMMEDIATE")
        self.body()
        self.conn.execute("COMMIT")
        elapsed = time.process_time() - start
        if count:
            self.conn.set_progress_handler(None, 1)
            self.steps.append(steps)
        else:
            self.cpu_s.append(elapsed)


async def compare(make: dict[str, type[Way]], members: int, rounds: int) -> None:
    """Run the two ways (baseline first) in alternating rounds, each on a fresh store, and print their figures and ratio."""
    (base_name, base_way), (new_name, new_way) = make.items()
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as stack:
            ways: list[Way] = []
            for i, way in enumerate((base_way, new_way)):
                (Path(tmp) / str(i)).mkdir()
                conn = stack.enter_context(closing(await fresh(Path(tmp) / str(i))))
                ways.append(way(conn, members))
            for way_ in ways:
                way_.round(count=True)
            for _ in range(rounds + 1):
                for way_ in ways:
                    way_.round()
    print(f"{members} members x {rounds} rounds (the first of each way not counted)")
    for name, way_ in zip((base_name, new_name), ways, strict=True):
        cpu = statistics.median(way_.cpu_s[1:]) / members * 1e6
        print(f"{name:30} {cpu:7.1f} us CPU per member  {way_.steps[0] / members:7.0f} VM instructions per member")
    base, new = ways
    ratio_cpu = statistics.median(new.cpu_s[1:]) / statistics.median(base.cpu_s[1:])
    print(f"{new_name} / baseline: CPU {ratio_cpu:.2f}x, VM instructions {new.steps[0] / base.steps[0]:.2f}x")


async def run(doc: str | None, make: dict[str, type[Way]], argv: list[str] | None = None) -> int:
    """A script's main: --members and --rounds, then `compare`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20, help="rounds of each way, alternating (the first of each not counted)")
    args = parser.parse_args(argv)
    await compare(make, args.members, args.rounds)
    return 0
