"""What only the SQLite engine has: its pragmas, its data file, its disk limits, its old schemas.

The behaviour both engines share is tested once, on both, in test_store.py.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import trio

from actors.errors import StorageUnavailable
from actors.store.base import StoredEvent
from actors.store.migrations import packaged
from actors.store.sqlite import DB_FILE_NAME, open_sqlite_store


def _event(seq: int, time: int = 1_000) -> StoredEvent:
    return StoredEvent(seq=seq, name="messageReceived", payload=b"\xa1\x61a" + bytes([seq % 24]), time=time)


def _versions(path: Path) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(path)) as conn:
        return [(v, n) for v, n in conn.execute("SELECT version, name FROM schema_version ORDER BY version")]


async def test_the_data_file_records_every_migration_and_runs_in_wal_mode(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with open_sqlite_store(tmp_path / "data") as store:
            await store.ensure_account("u1", "Ann", 1)
        db = tmp_path / "data" / DB_FILE_NAME
        assert _versions(db) == [(m.version, m.name) for m in packaged("sqlite")]
        async with open_sqlite_store(tmp_path / "data") as store:
            assert await store.stream_bounds("u1") == (1, 0)
            pragmas = await store.read(
                lambda c: (c.execute("PRAGMA journal_mode").fetchone()[0], c.execute("PRAGMA query_only").fetchone()[0])
            )
            assert pragmas == ("wal", 1)
            assert await store.write(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0]) == 1
        assert _versions(db) == [(m.version, m.name) for m in packaged("sqlite")]


async def test_unwritable_data_dir_is_storage_unavailable(tmp_path: Path) -> None:
    with trio.fail_after(10):
        (tmp_path / "file").write_text("not a directory")
        with pytest.raises(StorageUnavailable):
            async with open_sqlite_store(tmp_path / "file" / "data"):
                pass


async def test_disk_full_is_storage_unavailable_and_answered_writes_are_all_or_nothing(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with open_sqlite_store(tmp_path, max_batch=16) as store:
            await store.write(lambda c: c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)"))
            # A real SQLITE_FULL: cap the database a few pages above its size.
            await store.write(lambda c: c.execute(
                "PRAGMA max_page_count = " + str(c.execute("PRAGMA page_count").fetchone()[0] + 4)
            ))
            answers: dict[int, BaseException | None] = {}

            async def put(k: int, size: int) -> None:
                try:
                    await store.write(lambda c: c.execute("INSERT INTO t VALUES (?, ?)", (k, b"x" * size)))
                    answers[k] = None
                except StorageUnavailable as exc:
                    answers[k] = exc

            async with trio.open_nursery() as nursery:
                nursery.start_soon(put, 1, 10)
                nursery.start_soon(put, 2, 1_000_000)  # cannot fit
                nursery.start_soon(put, 3, 10)
            assert isinstance(answers[2], StorageUnavailable)
            stored = await store.read(lambda c: {k for (k,) in c.execute("SELECT k FROM t")})
            assert stored == {k for k, error in answers.items() if error is None}
            assert 2 not in stored


async def test_corrupt_data_file_is_storage_unavailable(tmp_path: Path) -> None:
    with trio.fail_after(10):
        (tmp_path / DB_FILE_NAME).write_bytes(b"this is not a sqlite database" * 100)
        with pytest.raises(StorageUnavailable):
            async with open_sqlite_store(tmp_path):
                pass


async def test_upgrading_to_the_appended_stream_keeps_every_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = packaged("sqlite")
    before = [m for m in shipped if m.version < 6]
    with trio.fail_after(10):
        monkeypatch.setattr("actors.store.sqlite.packaged", lambda engine: before)
        async with open_sqlite_store(tmp_path) as store:
            await store.append_events("u1", [_event(seq, time=seq) for seq in range(1, 6)])
            await store.append_events("u2", [_event(1)])
        monkeypatch.setattr("actors.store.sqlite.packaged", lambda engine: shipped)
        async with open_sqlite_store(tmp_path) as store:
            assert [(e.seq, e.payload) for e in await store.events_after("u1", 2, 10)] == [
                (seq, _event(seq).payload) for seq in (3, 4, 5)
            ]
            assert await store.stream_bounds("u1") == (1, 5)
            await store.append_events("u1", [_event(6)])
            with pytest.raises(sqlite3.IntegrityError):  # (user_id, seq) is still unique
                await store.write(lambda c: c.execute("INSERT INTO stream_events (user_id, seq, name, payload, time) VALUES ('u2', 1, 'x', x'a0', 1)"))
            assert await store.trim_stream("u1", keep_count=2, min_time_ms=0) == 4
            assert [e.seq for e in await store.events_after("u1", 0, 10)] == [5, 6]
