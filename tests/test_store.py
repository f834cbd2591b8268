"""Every store engine, one suite: schema, streams, devices, group commit, failures.

Each test runs on SQLite and on PostgreSQL (the `engine` fixture).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import trio
import trio.testing

from actors.errors import StorageUnavailable
from actors.store.base import DeviceRecord, Store, StoredEvent, WebhookRow
from actors.store.migrations import Migration, packaged
from tests.store_engines import Engine, EngineStore


def _event(seq: int, time: int = 1_000) -> StoredEvent:
    return StoredEvent(seq=seq, name="messageReceived", payload=b"\xa1\x61a" + bytes([seq % 24]), time=time)


def _device(login_id: str, login_time: int, device_id: str = "d1") -> DeviceRecord:
    return DeviceRecord(login_id, device_id, "ios", f"phone {login_id}", login_time)


async def _versions(store: EngineStore) -> list[tuple[int, str]]:
    rows = await store.read(lambda c: c.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall())
    return [(int(v), n) for v, n in rows]


async def test_migrations_apply_once_and_reopen_is_a_no_op(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.ensure_account("u1", "Ann", 1)
            assert await _versions(store) == [(m.version, m.name) for m in packaged(engine.name)]
        async with engine.open() as store:
            assert await store.stream_bounds("u1") == (1, 0)
            assert await _versions(store) == [(m.version, m.name) for m in packaged(engine.name)]


async def test_store_satisfies_the_protocol(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as engine_store:
            store: Store = engine_store
            await store.ensure_account("u1", None, 5)


async def test_ensure_account_keeps_name_unless_a_new_one_is_given(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.ensure_account("u1", "Ann", 10)
            await store.ensure_account("u1", None, 20)
            await store.ensure_account("u1", "", 30)
            row = await store.read(lambda c: c.execute("SELECT user_name, created_time FROM accounts").fetchone())
            assert row == ("Ann", 10)
            await store.ensure_account("u1", "Anna", 40)
            assert await store.read(lambda c: c.execute("SELECT user_name FROM accounts").fetchone()) == ("Anna",)


async def test_append_events_after_and_bounds(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            assert await store.stream_bounds("nobody") == (1, 0)
            assert await store.events_after("nobody", 0, 10) == []
            await store.append_events("u1", [_event(1), _event(2), _event(3)])  # creates the account
            await store.append_events("u1", [_event(5)])
            assert await store.stream_bounds("u1") == (1, 5)
            assert await store.events_after("u1", 0, 10) == [_event(1), _event(2), _event(3), _event(5)]
            assert [e.seq for e in await store.events_after("u1", 2, 10)] == [3, 5]
            assert [e.seq for e in await store.events_after("u1", 0, 2)] == [1, 2]
            assert await store.events_after("u1", 5, 10) == []
            assert await store.events_after("u2", 0, 10) == []


async def test_append_rejects_seqs_not_above_the_head_and_stores_nothing(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.append_events("u1", [_event(1), _event(2)])
            with pytest.raises(ValueError):
                await store.append_events("u1", [_event(3), _event(2)])
            with pytest.raises(ValueError):
                await store.append_events("u1", [_event(2)])
            assert await store.stream_bounds("u1") == (1, 2)
            assert [e.seq for e in await store.events_after("u1", 0, 10)] == [1, 2]


async def test_trim_by_count_and_by_time(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.append_events("u1", [_event(seq, time=seq * 100) for seq in range(1, 11)])
            await store.append_events("u2", [_event(1, time=100)])
            assert await store.trim_stream("u1", keep_count=6, min_time_ms=0) == 4
            assert await store.stream_bounds("u1") == (5, 10)
            assert await store.trim_stream("u1", keep_count=6, min_time_ms=0) == 0
            assert await store.trim_stream("u1", keep_count=100, min_time_ms=701) == 3  # seqs 5, 6, 7
            assert [e.seq for e in await store.events_after("u1", 0, 100)] == [8, 9, 10]
            assert await store.stream_bounds("u2") == (1, 1)  # other accounts untouched


async def test_head_never_moves_back_after_trim(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.append_events("u1", [_event(1), _event(2), _event(3)])
            assert await store.trim_stream("u1", keep_count=0, min_time_ms=0) == 3
            assert await store.stream_bounds("u1") == (4, 3)
            assert await store.events_after("u1", 0, 10) == []
            with pytest.raises(ValueError):
                await store.append_events("u1", [_event(3)])
            await store.append_events("u1", [_event(4)])
            assert await store.stream_bounds("u1") == (4, 4)


async def test_one_stream_row_per_append_read_and_trimmed_through(engine: Engine) -> None:
    """An append of several events is one row; reads and trims start and end inside it as at any event."""
    targeted = StoredEvent(seq=3, name="selfMessage", payload=b"\xa0", time=300, only_device="d2")
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.append_events("u1", [_event(1, time=100), _event(2, time=200), targeted])
            await store.append_events("u1", [_event(4, time=400)])
            await store.append_events("u1", [_event(6, time=600), _event(7, time=700), _event(8, time=800)])
            rows = await store.read(lambda c: c.execute("SELECT seq FROM stream_events WHERE user_id = 'u1' ORDER BY seq").fetchall())
            assert [int(seq) for (seq,) in rows] == [1, 4, 6]
            assert await store.events_after("u1", 0, 10) == [
                _event(1, time=100), _event(2, time=200), targeted, _event(4, time=400),
                _event(6, time=600), _event(7, time=700), _event(8, time=800),
            ]
            assert [e.seq for e in await store.events_after("u1", 1, 2)] == [2, 3]
            assert [e.seq for e in await store.events_after("u1", 3, 2)] == [4, 6]
            assert [e.seq for e in await store.events_after("u1", 6, 10)] == [7, 8]
            assert await store.stream_bounds("u1") == (1, 8)
            assert await store.trim_stream("u1", keep_count=100, min_time_ms=250) == 2  # seqs 1, 2
            assert await store.stream_bounds("u1") == (3, 8)
            assert await store.events_after("u1", 0, 1) == [targeted]
            assert await store.trim_stream("u1", keep_count=2, min_time_ms=0) == 3  # seqs 3, 4, 6
            assert await store.stream_bounds("u1") == (7, 8)
            assert [e.seq for e in await store.events_after("u1", 0, 10)] == [7, 8]
            await store.append_events("u1", [_event(9), _event(10)])
            assert [e.seq for e in await store.events_after("u1", 7, 10)] == [8, 9, 10]


async def test_devices_online_offline_and_history(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.ensure_account("u1", "Ann", 1)
            await store.device_online("u1", "n1", _device("L2", 200, "d2"))
            await store.device_online("u1", "n1", _device("L1", 100, "d1"))
            await store.device_online("u1", "n1", _device("L3", 200, "d3"))  # same time as L2: insertion order
            assert [d.login_id for d in await store.online_devices("u1")] == ["L1", "L2", "L3"]
            assert (await store.online_devices("u1"))[0] == _device("L1", 100, "d1")

            await store.device_offline("u1", "L2", 300, "logout")
            await store.device_offline("u1", "nope", 300, "logout")  # unknown login: no-op
            assert [d.login_id for d in await store.online_devices("u1")] == ["L1", "L3"]

            history = await store.login_history("u1", 10)
            assert [(d.login_id, out, why) for d, out, why in history] == [
                ("L3", None, None),
                ("L2", 300, "logout"),
                ("L1", None, None),
            ]
            assert len(await store.login_history("u1", 2)) == 2
            assert await store.online_devices("u2") == []


async def test_device_online_creates_the_account_and_upserts_by_login_id(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.device_online("u9", "n1", _device("L1", 100))
            await store.device_online("u9", "n2", _device("L1", 150))
            assert await store.online_devices("u9") == [_device("L1", 150)]
            assert len(await store.login_history("u9", 10)) == 2
            assert await store.stream_bounds("u9") == (1, 0)


async def test_clear_node_devices_marks_only_that_node_offline(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.device_online("u1", "n1", _device("L1", 100))
            await store.device_online("u1", "n2", _device("L2", 110))
            await store.device_online("u2", "n1", _device("L3", 120))
            assert await store.node_devices("n1") == [("u1", _device("L1", 100)), ("u2", _device("L3", 120))]
            calls = [WebhookRow(f"d{n}", user, "userOffline", b"{}", 500) for n, user in enumerate(("u1", "u2"))]
            assert await store.clear_node_devices("n1", 500, calls) == 2
            assert [c.row for c in await store.webhook_list(10)] == calls  # queued with the change
            assert await store.node_devices("n1") == []
            assert await store.clear_node_devices("n1", 600) == 0
            assert [d.login_id for d in await store.online_devices("u1")] == ["L2"]
            assert await store.online_devices("u2") == []
            (record, logout_time, reason), = await store.login_history("u2", 10)
            assert (record.login_id, logout_time, reason) == ("L3", 500, "restart")
            assert [out for _, out, _ in await store.login_history("u1", 10)] == [None, 500]


async def test_group_commit_batches_concurrent_writes(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.write(lambda c: c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
            before = store.statistics()
            results: dict[int, int] = {}

            async def put(k: int) -> None:
                results[k] = await store.write(lambda c: c.execute("INSERT INTO t VALUES (?)", (k,)).rowcount)

            async with trio.open_nursery() as nursery:
                for k in range(200):
                    nursery.start_soon(put, k)
            assert results == {k: 1 for k in range(200)}
            assert await store.read(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 200
            stats = store.statistics()
            assert stats["jobs_committed"] - before["jobs_committed"] == 200
            assert stats["batches_committed"] - before["batches_committed"] < 200
            assert stats["largest_batch"] > 1
            assert stats["queue_depth"] == 0


async def test_a_failing_job_does_not_roll_back_the_rest_of_its_batch(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open(max_batch=64) as store:
            await store.write(lambda c: c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
            errors: dict[int, BaseException] = {}

            def job(conn: Any, k: int) -> None:
                # Each failing job fails after it already wrote a row: an error
                # that means the database is unusable (k=10), a constraint
                # error (20), a plain one (30).
                conn.execute("INSERT INTO t VALUES (?)", (k + 1000,))
                if k == 10:
                    engine.cause_unavailable(conn)
                if k == 20:
                    conn.execute("INSERT INTO t VALUES (?)", (k + 1000,))
                if k == 30:
                    raise KeyError("plain")
                conn.execute("INSERT INTO t VALUES (?)", (k,))

            async def put(k: int) -> None:
                try:
                    await store.write(lambda c: job(c, k))
                except Exception as exc:
                    errors[k] = exc

            batches_before = store.statistics()["batches_committed"]
            async with trio.open_nursery() as nursery:
                for k in range(40):
                    nursery.start_soon(put, k)
            assert store.statistics()["batches_committed"] - batches_before < 40
            assert isinstance(errors.pop(10), StorageUnavailable)
            assert isinstance(errors.pop(20), engine.integrity_error)
            assert isinstance(errors.pop(30), KeyError)
            assert errors == {}
            rows = await store.read(lambda c: {k for (k,) in c.execute("SELECT k FROM t")})
            ok = set(range(40)) - {10, 20, 30}
            assert rows == ok | {k + 1000 for k in ok}


async def test_plain_exception_reaches_the_caller_unchanged(engine: Engine) -> None:
    class Boom(Exception):
        pass

    boom = Boom()

    def fail(_: Any) -> None:
        raise boom

    with trio.fail_after(10):
        async with engine.open() as store:
            with pytest.raises(Boom) as caught:
                await store.write(fail)
            assert caught.value is boom
            with pytest.raises(Boom):
                await store.read(fail)


async def test_operational_error_in_a_job_is_storage_unavailable_for_that_caller_only(engine: Engine) -> None:
    def locked(conn: Any) -> None:
        conn.execute("INSERT INTO accounts (user_id, created_time) VALUES ('ghost', 1)")
        raise engine.operational_error("database or disk is full")

    with trio.fail_after(10):
        async with engine.open() as store:
            outcome: dict[str, BaseException | None] = {}

            async def good() -> None:
                await store.ensure_account("u1", "Ann", 1)
                outcome["good"] = None

            async def bad() -> None:
                try:
                    await store.write(locked)
                except StorageUnavailable as exc:
                    outcome["bad"] = exc

            async with trio.open_nursery() as nursery:
                nursery.start_soon(good)
                nursery.start_soon(bad)
            assert outcome["good"] is None
            assert isinstance(outcome["bad"].__cause__, engine.operational_error)  # type: ignore[union-attr]
            users = await store.read(lambda c: [u for (u,) in c.execute("SELECT user_id FROM accounts")])
            assert users == ["u1"]


async def test_a_failed_commit_fails_the_whole_batch_and_applies_nothing(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open(max_batch=8) as store:
            await store.ensure_account("u0", None, 1)
            # A job that ends the transaction itself breaks the batch: RELEASE
            # fails, so the batch is rolled back and every job of it fails.
            errors: list[BaseException] = []

            async def put(user_id: str) -> None:
                try:
                    await store.ensure_account(user_id, None, 1)
                except StorageUnavailable as exc:
                    errors.append(exc)

            async def rogue() -> None:
                try:
                    await store.write(lambda c: c.execute("ROLLBACK"))
                except StorageUnavailable as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(put, "u1")
                nursery.start_soon(rogue)
                nursery.start_soon(put, "u2")
            assert len(errors) == 3
            assert store.statistics()["batches_failed"] == 1
            users = await store.read(lambda c: [u for (u,) in c.execute("SELECT user_id FROM accounts")])
            assert users == ["u0"]
            await store.ensure_account("u3", None, 1)  # the writer carries on
            assert await store.read(lambda c: c.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]) == 2


async def test_acknowledged_writes_survive_reopen(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            async with trio.open_nursery() as nursery:
                for seq in range(1, 6):
                    nursery.start_soon(store.append_events, f"u{seq}", [_event(1), _event(2)])
            await store.device_online("u1", "n1", _device("L1", 100))
        async with engine.open() as store:
            for seq in range(1, 6):
                assert await store.stream_bounds(f"u{seq}") == (1, 2)
            assert await store.events_after("u3", 0, 10) == [_event(1), _event(2)]
            assert await store.online_devices("u1") == [_device("L1", 100)]


async def test_queued_writes_are_flushed_at_close(engine: Engine) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as callers:
            async with engine.open(max_batch=4) as store:
                for k in range(20):
                    callers.start_soon(store.ensure_account, f"u{k}", None, 1)
                await trio.testing.wait_all_tasks_blocked()
        async with engine.open() as store:
            assert await store.read(lambda c: c.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]) == 20


async def test_cancelled_callers_do_not_stall_the_writer_and_may_still_commit(engine: Engine) -> None:
    release = threading.Event()

    def slow(conn: Any) -> None:
        assert release.wait(5)
        conn.execute("INSERT INTO accounts (user_id, created_time) VALUES ('running', 1)")

    with trio.fail_after(10):
        async with engine.open() as store:
            with trio.move_on_after(0):
                await store.ensure_account("never", None, 1)  # cancelled before it was queued
            with trio.CancelScope() as callers:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(store.write, slow)
                    await trio.testing.wait_all_tasks_blocked()  # `slow` holds the writer thread
                    nursery.start_soon(store.ensure_account, "queued", None, 1)
                    await trio.testing.wait_all_tasks_blocked()
                    assert store.statistics()["queue_depth"] == 1
                    callers.cancel()
            release.set()
            await store.ensure_account("after", None, 1)
            users = await store.read(lambda c: {u for (u,) in c.execute("SELECT user_id FROM accounts")})
            assert users == {"running", "queued", "after"}


async def test_writes_after_close_are_storage_unavailable(engine: Engine) -> None:
    with trio.fail_after(10):
        async with engine.open() as store:
            pass
        assert isinstance(store, engine.store_class)
        with pytest.raises(StorageUnavailable):
            await store.ensure_account("u1", None, 1)
        with pytest.raises(StorageUnavailable):
            await store.online_devices("u1")


async def test_body_exception_is_not_wrapped_in_a_group(engine: Engine) -> None:
    with trio.fail_after(10):
        with pytest.raises(KeyError):
            async with engine.open() as store:
                await store.ensure_account("u1", None, 1)
                raise KeyError("body")
        async with engine.open() as store:
            assert await store.stream_bounds("u1") == (1, 0)


async def test_later_migrations_apply_in_order_and_newer_schemas_are_refused(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = packaged(engine.name)
    with trio.fail_after(10):
        async with engine.open() as store:
            await store.ensure_account("u1", "Ann", 1)
        top = shipped[-1].version
        later = [
            Migration(top + 2, "9998_more.sql", "INSERT INTO extra VALUES ('three');"),
            Migration(top + 1, "9997_extra.sql", "CREATE TABLE extra (x TEXT);\n-- trailing comment"),
        ]
        monkeypatch.setattr(f"{engine.module}.packaged", lambda name: shipped + sorted(later, key=lambda m: m.version))
        async with engine.open() as store:
            assert await store.read(lambda c: c.execute("SELECT x FROM extra").fetchall()) == [("three",)]
            assert await store.read(lambda c: c.execute("SELECT user_name FROM accounts").fetchone()) == ("Ann",)
            assert [v for v, _ in await _versions(store)] == [*range(1, top + 1), top + 1, top + 2]
        monkeypatch.setattr(f"{engine.module}.packaged", lambda name: shipped)
        with pytest.raises(StorageUnavailable, match="newer"):
            async with engine.open():
                pass

