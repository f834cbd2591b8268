"""SQLite, the embedded default store: WAL, one writer task, group commit.

Writes: `write(fn)` puts a job on a bounded channel. One writer task
(`writer.BatchWriter`) takes every job already waiting (up to `max_batch`)
and runs them in ONE transaction in a worker thread, each job in its own
SAVEPOINT when one of them fails: a job that
raises is rolled back alone and only its caller sees the error. After the
COMMIT every caller is answered, so an answered write is durable
(synchronous=FULL). If the database cannot be written, every job of that
batch gets StorageUnavailable and nothing of it is applied.

Reads: `read(fn)` runs on one of a few read-only connections, each call in
its own snapshot; they never wait for the writer (WAL). The domain SQL is
shared with PostgreSQL (`sql_accounts`, `sql_messages`, `sql_social`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio

from ..errors import HubbubError, StorageUnavailable
from .base import Claim, Fence
from .fencing import Owners, SqlOwnershipStore, sqlite_owners
from .migrations import packaged
from .sql_accounts import SqlAccountStore
from .sql_messages import SqlMessageStore
from .sql_social import SqlSocialStore
from .sql_threads import SqlThreadStore
from .sql_settings import SqlSettingsStore
from .sql_webhooks import SqlWebhookStore
from .writer import FLUSH_TIMEOUT_S, BatchWriter, WriteJob, apply_run, runs_of, running

T = TypeVar("T")

log = logging.getLogger("hubbub.store")

DB_FILE_NAME = "hubbub.sqlite3"
# Another process (a backup, the sqlite3 shell) may hold the lock briefly.
_BUSY_TIMEOUT_MS = 5_000
# Two readers: resume replays and queries overlap, but more threads only
# contend for the same disk.
_READ_CONNECTIONS = 2


def _means_unavailable(exc: BaseException) -> bool:
    """Whether a sqlite3 error means the database cannot be used (vs. a bad statement)."""
    return isinstance(exc, (sqlite3.OperationalError, sqlite3.InternalError)) or type(exc) is sqlite3.DatabaseError


def _unavailable(exc: BaseException) -> HubbubError:
    error = StorageUnavailable(f"sqlite: {exc}")
    error.__cause__ = exc
    return error


def _run_job(conn: sqlite3.Connection, job: WriteJob[Any], owners: Owners) -> None:
    """Run one job inside its own savepoint (unless its fence is stale); its error stays on the job."""
    if owners.refused(job):
        return
    conn.execute("SAVEPOINT job")
    try:
        job.value = job.fn(conn)
    except Exception as exc:
        if not conn.in_transaction:  # sqlite rolled the whole batch back (disk full, I/O)
            raise sqlite3.OperationalError(f"transaction lost: {exc}") from exc
        conn.execute("ROLLBACK TO job")
        job.value = None
        job.error = _unavailable(exc) if _means_unavailable(exc) else exc
    conn.execute("RELEASE job")
    owners.ran(job)


def _commit_batch(conn: sqlite3.Connection, batch: list[WriteJob[Any]]) -> bool:
    """Run `batch` in one transaction and commit it; runs in the worker thread.

    Returns whether it committed. If not, every job holds StorageUnavailable
    and the transaction was rolled back.
    """
    try:
        if not _run_plain(conn, batch):
            # A job failed: run the batch again, each job in its own savepoint,
            # so that only the failing job is left out. Jobs are plain writes
            # computed from their arguments, so running one twice is safe.
            conn.execute("BEGIN IMMEDIATE")
            owners = Owners.read(conn, batch, sqlite_owners)
            for job in batch:
                _run_job(conn, job, owners)
        conn.execute("COMMIT")
        committed = True
    except sqlite3.Error as exc:
        log.warning("store=sqlite batch failed jobs=%d error=%s", len(batch), exc)
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("store=sqlite rollback failed")
        for job in batch:
            job.value, job.error = None, _unavailable(exc)
        committed = False
    for job in batch:
        job.finished = True
    return committed


def _run_plain(conn: sqlite3.Connection, batch: list[WriteJob[Any]]) -> bool:
    """Run every job with no savepoints (the common case: nothing fails), neighbouring bulk writes together.

    Returns True with the transaction open for COMMIT, or False after
    rolling it back when any job raised. A job whose fence is stale does
    not run and keeps its OwnershipLost. Errors that cost the transaction
    itself propagate.
    """
    conn.execute("BEGIN IMMEDIATE")
    owners = Owners.read(conn, batch, sqlite_owners)
    for run in runs_of(batch, "sqlite"):  # neighbouring bulk writes of one kind: one statement per table
        live = [job for job in run if not owners.refused(job)]
        if not live:
            continue
        try:
            apply_run(conn, live)
        except Exception as exc:
            if not conn.in_transaction:  # sqlite rolled the whole batch back (disk full, I/O)
                raise sqlite3.OperationalError(f"transaction lost: {exc}") from exc
            conn.execute("ROLLBACK")
            for each in batch:
                each.value, each.bulk = None, False
            return False
        if not conn.in_transaction:  # the job ended the transaction itself: nothing after it may run
            raise sqlite3.OperationalError("a job ended the batch's transaction")
        for job in live:
            owners.ran(job)
    return True


class SqliteStore(SqlOwnershipStore, SqlAccountStore, SqlMessageStore, SqlSocialStore, SqlThreadStore, SqlSettingsStore, SqlWebhookStore):
    """The embedded Store; open it with `open_sqlite_store`, which owns its writer task."""

    shared = False  # one process owns the file (the data dir lock): no claims needed

    def __init__(self, write_conn: sqlite3.Connection, read_conns: list[sqlite3.Connection], max_batch: int) -> None:
        self._write_conn = write_conn
        self._idle_readers = list(read_conns)  # list.pop/append are atomic: safe across threads
        self._read_count = len(read_conns)
        self._read_limiter = trio.CapacityLimiter(len(read_conns))
        self._writer = BatchWriter("sqlite", partial(_commit_batch, write_conn), max_batch)
        self._closed = False
        self.coalesced_reads(len(read_conns))

    # -- primitives -------------------------------------------------------

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, fence: Fence | Claim | None = None) -> T:
        """Run `fn(conn)` inside the next group commit; return its result after COMMIT.

        Blocks while the queue is full. `fn` runs in a worker thread inside a
        savepoint and must not commit. Raises what `fn` raised (sqlite
        OperationalError becomes StorageUnavailable), OwnershipLost without
        running `fn` if `fence` is stale, or StorageUnavailable if the batch
        could not commit or the store is closed. If the caller is cancelled
        after queueing, the write may still commit.
        """
        return await self._writer.submit(fn, fence)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on a read-only snapshot in a worker thread; return its result.

        Waits for a free read connection. Raises what `fn` raised; sqlite
        errors that mean the database is unusable become StorageUnavailable.
        """
        if self._closed:
            raise StorageUnavailable("sqlite store is closed")
        return await trio.to_thread.run_sync(self._read_in_thread, fn, limiter=self._read_limiter)

    def _read_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._idle_readers.pop()  # the limiter guarantees one is idle
        try:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            if _means_unavailable(exc):
                raise _unavailable(exc) from exc
            raise
        finally:
            self._idle_readers.append(conn)

    def statistics(self) -> dict[str, int]:
        """Writer counters for metrics: queue depth, batches and jobs, largest batch."""
        return self._writer.statistics()

    async def _close_connections(self) -> None:
        """Close connections once no thread uses them; a reader still busy after the deadline is left to GC."""
        self._closed = True
        with trio.move_on_after(FLUSH_TIMEOUT_S, shield=True):
            for _ in range(self._read_count):
                await self._read_limiter.acquire_on_behalf_of(object())
        idle = [*self._idle_readers, self._write_conn]
        with trio.CancelScope(shield=True):  # closing may checkpoint the WAL: disk I/O
            await trio.to_thread.run_sync(_close_all, idle, limiter=self._writer.limiter)



# -- opening and closing: connections and migrations -------------------------


def _close_all(conns: list[sqlite3.Connection]) -> None:
    for conn in conns:
        conn.close()


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply every packaged migration not yet in schema_version, all in one transaction."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_time INTEGER NOT NULL)"
    )
    applied = {int(row[0]) for row in conn.execute("SELECT version FROM schema_version")}
    known = packaged("sqlite")
    if applied and max(applied) > max((m.version for m in known), default=0):
        raise StorageUnavailable(f"schema version {max(applied)} is newer than this build")
    pending = [m for m in known if m.version not in applied]
    if not pending:
        return
    now_ms = int(time.time() * 1000)
    # executescript() commits any open transaction first, so BEGIN goes in the script.
    script = ["BEGIN IMMEDIATE;"]
    for m in pending:  # a migration's name is [a-z0-9_.]: safe to inline
        script.append(f"{m.sql}\n;\nINSERT INTO schema_version VALUES ({m.version}, '{m.name}', {now_ms});")
    script.append("COMMIT;")
    try:
        conn.executescript("\n".join(script))
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _connect_writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode != "wal":
            raise sqlite3.OperationalError(f"journal_mode is {mode}, not wal")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_reader(path: Path) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only = ON")
    return conn


def _create_private(path: Path) -> None:
    """Create `path` empty with mode 600 if it does not exist (SQLite gives its -wal and -shm files the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass  # an existing store keeps the mode its operator gave it


def _open_connections(path: Path) -> tuple[sqlite3.Connection, list[sqlite3.Connection]]:
    """Open the writer (migrating the schema) and the readers; runs in a worker thread."""
    opened: list[sqlite3.Connection] = []
    try:
        _create_private(path)
        opened.append(_connect_writer(path))
        for _ in range(_READ_CONNECTIONS):
            opened.append(_connect_reader(path))
    except BaseException as exc:
        for conn in opened:
            conn.close()
        if isinstance(exc, sqlite3.Error):
            raise StorageUnavailable(f"cannot open {path}: {exc}") from exc
        raise
    return opened[0], opened[1:]


@asynccontextmanager
async def open_sqlite_store(data_dir: Path, *, max_batch: int = 512) -> AsyncIterator[SqliteStore]:
    """Open (creating and migrating) `data_dir/hubbub.sqlite3` and run its writer.

    On exit, queued writes are committed (bounded by a few seconds, after
    which they fail with StorageUnavailable), then the connections close.
    Raises StorageUnavailable if the database cannot be opened.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    try:
        await trio.Path(data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageUnavailable(f"cannot create {data_dir}: {exc}") from exc
    write_conn, read_conns = await trio.to_thread.run_sync(_open_connections, data_dir / DB_FILE_NAME)
    store = SqliteStore(write_conn, read_conns, max_batch)
    try:
        async with running(store._writer):
            yield store
    finally:
        await store._close_connections()


def backup_sqlite_store(data_dir: Path, destination: Path) -> int:
    """Copy the store in `data_dir` to `destination`, consistent even while a server writes to it.

    SQLite's online backup reads one snapshot (WAL: writers go on meanwhile).
    The copy is written beside `destination` and renamed into place, so a
    crash never leaves half a backup under that name. Returns its size in
    bytes. Restore by stopping the server and putting the file in a data
    directory as `hubbub.sqlite3`, with the same auth secret.
    """
    source_path = data_dir / DB_FILE_NAME
    if not source_path.is_file():
        raise FileNotFoundError(f"no store at {source_path}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        source.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        _create_private(partial)  # a backup holds everything the store does: not world-readable
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
            (check,) = copy.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(f"backup failed its integrity check: {check}")
        finally:
            copy.close()
    finally:
        source.close()
    partial.replace(destination)
    return destination.stat().st_size
