"""What only the PostgreSQL engine has: URLs, a server that may be unreachable or drop connections, several nodes.

The behaviour both engines share is tested once, on both, in test_store.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from actors.errors import StorageUnavailable
from actors.store.migrations import packaged
from actors.store.postgres import describe, open_postgres_store


async def _users(store: Any) -> set[str]:
    rows = await store.read(lambda c: c.execute("SELECT user_id FROM accounts").fetchall())
    return {user for (user,) in rows}


async def test_a_bad_url_is_storage_unavailable() -> None:
    with trio.fail_after(10):
        with pytest.raises(StorageUnavailable, match="bad PostgreSQL URL"):
            async with open_postgres_store("postgresql://[::1/broken"):
                pass


async def test_an_unreachable_server_is_storage_unavailable_at_once() -> None:
    with trio.fail_after(10):
        with pytest.raises(StorageUnavailable, match="cannot open postgresql database nowhere on 127.0.0.1"):
            async with open_postgres_store("postgresql://hubbub:secret@127.0.0.1:1/nowhere"):
                pass


def test_described_urls_never_show_the_password() -> None:
    described = describe("postgresql://hubbub:s3cret@db.example:5433/chat")
    assert described == "postgresql database chat on db.example"
    assert "s3cret" not in describe("host=db.example password=s3cret dbname=chat")


async def test_a_connection_lost_mid_batch_fails_that_batch_and_the_next_write_works(postgres_url: str) -> None:
    def lose_connection(conn: Any) -> None:
        conn.execute("INSERT INTO accounts (user_id, created_time) VALUES ('doomed', 1)")
        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    with trio.fail_after(20):
        async with open_postgres_store(postgres_url) as store:
            await store.ensure_account("before", None, 1)
            outcomes: dict[str, BaseException | None] = {}

            async def put(name: str, fn: Any) -> None:
                try:
                    await store.write(fn)
                    outcomes[name] = None
                except StorageUnavailable as exc:
                    outcomes[name] = exc

            async with trio.open_nursery() as nursery:  # one batch: the lost connection takes both
                nursery.start_soon(put, "lost", lose_connection)
                nursery.start_soon(
                    put, "bystander", lambda c: c.execute("INSERT INTO accounts (user_id, created_time) VALUES ('bystander', 1)")
                )
            assert isinstance(outcomes["lost"], StorageUnavailable)
            assert isinstance(outcomes["bystander"], StorageUnavailable)
            assert store.statistics()["batches_failed"] == 1
            await store.ensure_account("after", None, 1)  # the pool replaced the connection
            assert await _users(store) == {"before", "after"}


async def test_connections_dropped_by_the_server_are_replaced_before_use(postgres_url: str) -> None:
    with trio.fail_after(20):
        async with open_postgres_store(postgres_url, read_connections=2) as store:
            await store.ensure_account("u1", None, 1)
            await store.read(
                lambda c: c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            )
            # every idle connection is dead now; each checkout finds out and reconnects
            for k in range(4):
                await store.ensure_account(f"w{k}", None, 1)
                assert "u1" in await _users(store)
            assert await store.stream_bounds("w3") == (1, 0)


async def test_nodes_starting_together_migrate_once(postgres_url: str) -> None:
    with trio.fail_after(20):
        opened: list[Any] = []

        async def node(user_id: str, started: trio.Event, everyone: trio.Event) -> None:
            async with open_postgres_store(postgres_url) as store:
                await store.ensure_account(user_id, None, 1)
                opened.append(store)
                started.set()
                await everyone.wait()

        everyone = trio.Event()
        events = [trio.Event() for _ in range(3)]
        async with trio.open_nursery() as nursery:
            for k, started in enumerate(events):
                nursery.start_soon(node, f"n{k}", started, everyone)
            for started in events:
                await started.wait()
            rows = await opened[0].read(lambda c: c.execute("SELECT version FROM schema_version ORDER BY version").fetchall())
            assert [v for (v,) in rows] == [m.version for m in packaged("postgres")]
            assert await _users(opened[0]) == {"n0", "n1", "n2"}
            everyone.set()
