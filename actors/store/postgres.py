"""PostgreSQL, the store many nodes share: psycopg 3 (sync, in trio threads), a pool, group commit.

The same Store as SQLite, with the same domain SQL (`sql_accounts`,
`sql_messages`, `sql_social`) run through `PgConnection`, which turns the
shared dialect into psycopg's (placeholders, flags as integers).

Writes: `write(fn)` queues a job for the `writer.BatchWriter`; each batch
takes one pooled connection and runs every waiting job in ONE transaction in
a worker thread. When a job fails, the batch is rolled back and run again
with each job in its own SAVEPOINT, so only that job is left out and only
its caller sees the error. Answered writes are committed. A lost connection,
a timeout or a server that cannot commit gives every job of the batch
StorageUnavailable (9001) and applies nothing of it; the pool reconnects in
the background, so service returns when the server does.

Every job runs inside the batch's transaction on the connection it is
given. A job fenced with an actor's ownership epoch is checked against the
epoch read, and locked until COMMIT, when the batch's transaction begins
(`fencing`): a stale one does not run and fails alone with OwnershipLost.

Reads: `read(fn)` runs on a pooled connection in a read-only REPEATABLE READ
transaction, so the statements of one call see one snapshot.

Every wait is bounded: connecting (`connect_timeout`), waiting for a pooled
connection, and each statement (`statement_timeout`) end in
StorageUnavailable instead of hanging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache, partial
from typing import Any, Generic, TypeVar, cast

import psycopg
import trio
from psycopg import pq
from psycopg.adapt import Dumper
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import HubbubError, StorageUnavailable
from .base import Claim, Fence
from .fencing import Owners, SqlOwnershipStore, epoch_of, postgres_owners, send_claim
from .migrations import packaged
from .sql import Cursor
from .sql_accounts import SqlAccountStore
from .sql_messages import SqlMessageStore
from .sql_social import SqlSocialStore
from .sql_threads import SqlThreadStore
from .sql_settings import SqlSettingsStore
from .sql_webhooks import SqlWebhookStore
from .writer import FLUSH_TIMEOUT_S, BatchWriter, Bulk, WriteJob, apply_run, running, runs_of

T = TypeVar("T")

log = logging.getLogger("hubbub.store")

# Readers share the pool with the one writer connection; four cover resume
# replays and queries overlapping on a 2-core node.
_READ_CONNECTIONS = 4
_CONNECT_TIMEOUT_S = 5
# How long a caller waits for a pooled connection (all busy, or reconnecting).
_POOL_WAIT_S = 5.0
# ... and once one such wait found none while the server is down (see _Reach).
_DOWN_POOL_WAIT_S = 0.5
# The pool retries a lost connection with a doubling delay; it gives an
# attempt up after this long, and the next caller starts a fresh one at
# once, so the delay never grows past a few seconds: service returns
# within about that long after the server does.
_RECONNECT_GIVE_UP_S = 8.0
# One statement may take this long; a lock held by a stalled peer ends here.
_STATEMENT_TIMEOUT_MS = 10_000
# A peer that stops answering over TCP is given up after this long.
_TCP_USER_TIMEOUT_MS = 10_000
# Any constant: held while migrating, so nodes starting together migrate once.
_MIGRATION_LOCK = 0x6875_6262_7562  # "hubbub"


class _FlagDumper(Dumper):
    """Python bools as smallint 0/1: the shared SQL keeps flags as integers, as SQLite does."""

    oid = psycopg.adapters.types["int2"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


@lru_cache(maxsize=512)
def _to_psycopg(sql: str) -> str:
    """The shared dialect's `?` placeholders as psycopg's `%s` (a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg connection seen as the shared SQL's `sql.Connection`.

    With `pipeline` (a write batch, see `_run_plain`) each statement is sent
    without waiting for its result: a batch's statements share round trips,
    and a caller waits only where it reads a result (`_Pipelined`).
    """

    __slots__ = ("raw", "pipeline")

    def __init__(self, raw: psycopg.Connection[Any], pipeline: psycopg.Pipeline | None = None) -> None:
        self.raw = raw
        self.pipeline = pipeline

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        if not parameters:  # no placeholders: the text goes as it is
            return self._seen(self.raw.execute(sql))
        return self._seen(self.raw.execute(_to_psycopg(sql), parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        rows = list(parameters)
        if len(rows) == 1:  # the common case (one view, one member): no pipeline to set up
            return self._seen(self.raw.execute(_to_psycopg(sql), rows[0]))
        cursor = self.raw.cursor()
        cursor.executemany(_to_psycopg(sql), rows)  # pipelined: one round trip for them all
        return self._seen(cursor)

    def _seen(self, cursor: psycopg.Cursor[Any]) -> Cursor:
        return cursor if self.pipeline is None else _Pipelined(cursor, self.pipeline)


class _Pipelined:
    """A statement sent in pipeline mode: its rows are fetched when read, its rowcount known once the pipeline syncs."""

    __slots__ = ("_cursor", "_pipeline")

    def __init__(self, cursor: psycopg.Cursor[Any], pipeline: psycopg.Pipeline) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    @property
    def rowcount(self) -> int:
        if self._cursor.pgresult is None:  # not answered yet
            _sync(self._cursor.connection, self._pipeline)  # one round trip for every statement sent so far
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


class _Later(Generic[T]):
    """A job's value read once its batch's statements are all answered: no round trip of its own."""

    __slots__ = ("_read",)

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read

    def read(self) -> T:
        return self._read()


# Claims of many actors in one statement (a takeover's): the arrays' rows, one per actor, none twice.
_CLAIM_ALL = (
    "INSERT INTO actor_epochs (actor, epoch, node, claimed_time)"
    " SELECT actor, 1, node, claimed_time FROM unnest(?::text[], ?::text[], ?::bigint[]) AS c (actor, node, claimed_time)"
    " ON CONFLICT (actor) DO UPDATE SET epoch = actor_epochs.epoch + 1, node = excluded.node,"
    " claimed_time = excluded.claimed_time RETURNING actor, epoch"
)


class _ClaimWrite(Bulk):
    """A claim of one actor, its new epoch read with the batch's other results (`_Later`).

    A run of claims (the actors of a lost node, taken over together) goes
    as one statement; one that names an actor twice is sent claim by claim,
    since a statement may move a row once.
    """

    __slots__ = ("actor", "node", "now_ms")
    bulk_engines = frozenset({"postgresql"})

    def __init__(self, actor: str, node: str, now_ms: int) -> None:
        self.actor, self.node, self.now_ms = actor, node, now_ms

    def __call__(self, conn: PgConnection) -> _Later[int]:
        return _Later(partial(epoch_of, send_claim(conn, self.actor, self.node, self.now_ms)))

    @classmethod
    def apply_all(cls, conn: PgConnection, writes: Sequence[Any]) -> list[Any]:
        claims: list[_ClaimWrite] = list(writes)
        if len({c.actor for c in claims}) < len(claims):
            return [c(conn) for c in claims]
        sent = conn.execute(_CLAIM_ALL, ([c.actor for c in claims], [c.node for c in claims], [c.now_ms for c in claims]))
        epochs: dict[str, int] = {}

        def epoch(actor: str) -> int:
            if not epochs:
                epochs.update((name, int(value)) for name, value in sent.fetchall())
            return epochs[actor]

        return [_Later(partial(epoch, c.actor)) for c in claims]


def _read_later(batch: list[WriteJob[Any]]) -> None:
    """Each job's value sent as `_Later`, read now; a job whose value cannot be read fails alone (the batch may commit)."""
    for job in batch:
        if isinstance(job.value, _Later):
            try:
                job.value = job.value.read()
            except Exception as exc:
                job.value, job.error = None, exc


def _guard(raw: psycopg.Connection[Any]) -> None:
    """Send what fails outside a transaction block (pipelined, no wait), ahead of a Sync.

    A Sync commits the statements sent since the last one if they ran
    outside the batch's transaction (a job ended it): these make them fail
    instead, so the Sync rolls them back with the error.
    """
    raw.execute("SAVEPOINT batch_guard")
    raw.execute("RELEASE SAVEPOINT batch_guard")


def _sync(raw: psycopg.Connection[Any], pipeline: psycopg.Pipeline) -> None:
    """Wait for the results of every statement sent so far (guarded: see `_guard`)."""
    _guard(raw)
    pipeline.sync()


class _BatchLost(Exception):
    """A job ended the batch's transaction itself: nothing after it may run."""


def _means_unavailable(exc: BaseException) -> bool:
    """Whether a psycopg error means the server cannot be used (vs. a bad statement or row)."""
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, psycopg.InternalError, _BatchLost)) or (
        type(exc) is psycopg.DatabaseError
    )


def _one_line(exc: BaseException) -> str:
    """libpq's messages span lines (a hint after a tab): one line for logs and error frames."""
    return " ".join(str(exc).split())


def _unavailable(exc: BaseException) -> HubbubError:
    error = StorageUnavailable(f"postgresql: {_one_line(exc)}")
    error.__cause__ = exc
    return error


def _in_transaction(raw: psycopg.Connection[Any]) -> bool:
    return raw.info.transaction_status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR)


class _Reach:
    """Whether the server could be reached lately, shared by the writer and the readers.

    While it could not, a caller waits only _DOWN_POOL_WAIT_S for a pooled
    connection instead of _POOL_WAIT_S: writes queued behind each other in
    an outage then each fail with 9001 at once, instead of adding up their
    waits past the askers' timeouts. The first transaction begun again
    clears it. A plain flag: a stale read of it only changes one wait.
    """

    __slots__ = ("down",)

    def __init__(self) -> None:
        self.down = False

    def pool_wait_s(self) -> float:
        return _DOWN_POOL_WAIT_S if self.down else _POOL_WAIT_S


@contextmanager
def _begun(pool: ConnectionPool[psycopg.Connection[Any]], reach: _Reach, begin: str) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection with a transaction begun on it by `begin`.

    BEGIN is the first thing sent on a connection taken from the pool, so it
    is its liveness check too: a connection the server dropped while it sat
    idle (a restart, a terminated backend) fails there, before anything was
    done on it, and the next one is tried. Bounded: as many tries as the
    pool has connections, plus one, each waiting at most _POOL_WAIT_S
    (_DOWN_POOL_WAIT_S while the server is known to be unreachable).
    """
    tries = (pool.max_size or 1) + 1
    for attempt in range(1, tries + 1):
        try:
            with pool.connection(timeout=reach.pool_wait_s()) as raw:  # a broken one goes back to be replaced
                try:
                    raw.execute(begin)
                except psycopg.OperationalError:
                    if raw.broken and attempt < tries:
                        continue
                    raise
                reach.down = False
                yield raw
                return
        except PoolTimeout:  # no connection came: none could be made
            reach.down = True
            raise


def _run_plain(raw: psycopg.Connection[Any], batch: list[WriteJob[Any]]) -> bool:
    """Run every job, in the transaction already begun, with no savepoints (the common case).

    The jobs' statements go in pipeline mode: a job waits for the server
    only where it reads a result (a RETURNING row, a rowcount), so a batch
    costs a few round trips instead of one per statement; neighbouring
    bulk writes of one kind (a group message's deliveries, a takeover's)
    go as one statement per table. A statement's
    error may therefore surface in a later job or when the pipeline ends;
    either way the batch is rolled back and run again job by job
    (`_run_job`), which puts each error on its own job.

    Returns True with the transaction open for COMMIT, or False after
    rolling it back when anything raised. A job whose fence is stale does
    not run and keeps its OwnershipLost. Errors that cost the connection or
    the transaction itself propagate.
    """
    owners = Owners.read(PgConnection(raw), batch, postgres_owners)
    try:
        with raw.pipeline() as pipeline:  # its end syncs
            conn = PgConnection(raw, pipeline)
            try:
                for run in runs_of(batch, "postgresql"):  # neighbouring bulk writes of one kind: one statement per table
                    live = [job for job in run if not owners.refused(job)]
                    if live:
                        apply_run(conn, live)
                    for job in live:
                        owners.ran(job)
            finally:
                _guard(raw)
    except Exception as exc:
        if raw.broken:
            raise _BatchLost(f"connection lost: {exc}") from exc
        if not _in_transaction(raw):
            raise _BatchLost("a job ended the batch's transaction") from exc
        raw.execute("ROLLBACK")
        for each in batch:
            each.value, each.bulk = None, False
        return False
    if not _in_transaction(raw):
        raise _BatchLost("a job ended the batch's transaction")
    return True


def _run_job(raw: psycopg.Connection[Any], job: WriteJob[Any], owners: Owners) -> None:
    """Run one job inside its own savepoint (unless its fence is stale); its error stays on the job."""
    if owners.refused(job):
        return
    raw.execute("SAVEPOINT job")
    try:
        job.value = job.fn(PgConnection(raw))
    except Exception as exc:
        if raw.broken or not _in_transaction(raw):
            raise _BatchLost(f"transaction lost: {exc}") from exc
        raw.execute("ROLLBACK TO SAVEPOINT job")
        job.value = None
        job.error = _unavailable(exc) if _means_unavailable(exc) else exc
    if not _in_transaction(raw):
        raise _BatchLost("a job ended the batch's transaction")
    raw.execute("RELEASE SAVEPOINT job")
    owners.ran(job)


def _commit_batch(pool: ConnectionPool[psycopg.Connection[Any]], reach: _Reach, batch: list[WriteJob[Any]]) -> bool:
    """Run `batch` in one transaction and commit it; runs in the writer's worker thread.

    Returns whether it committed. If not, every job holds StorageUnavailable
    and nothing of the batch was applied.
    """
    try:
        with _begun(pool, reach, "BEGIN") as raw:
            try:
                if not _run_plain(raw, batch):
                    # A job failed: run the batch again, each job in its own
                    # savepoint, so that only the failing job is left out. Jobs
                    # are plain writes computed from their arguments, so
                    # running one twice is safe.
                    raw.execute("BEGIN")
                    owners = Owners.read(PgConnection(raw), batch, postgres_owners)
                    for job in batch:
                        _run_job(raw, job, owners)
                _read_later(batch)
                raw.execute("COMMIT")
            except BaseException:
                if not raw.broken and _in_transaction(raw):
                    raw.execute("ROLLBACK")
                raise
        committed = True
    except (psycopg.Error, _BatchLost) as exc:
        log.warning("store=postgresql batch failed jobs=%d error=%s", len(batch), _one_line(exc))
        for job in batch:
            job.value, job.error = None, _unavailable(exc)
        committed = False
    for job in batch:
        job.finished = True
    return committed


_READ_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


def _read_in_thread(pool: ConnectionPool[psycopg.Connection[Any]], reach: _Reach, fn: Callable[[PgConnection], T]) -> T:
    """Run the read `fn` on a pooled connection, in pipeline mode: BEGIN and ROLLBACK cost no round trip of their own.

    Reading changes nothing, so a connection the server dropped while it sat
    idle (found when the first result is read) is given up and the read
    runs again on the next one: as many tries as the pool has connections, plus one.
    """
    tries, attempt = (pool.max_size or 1) + 1, 0
    try:
        while True:
            attempt += 1
            try:
                with pool.connection(timeout=reach.pool_wait_s()) as raw:  # a broken one goes back to be replaced
                    try:
                        found = _read_pipelined(raw, fn)
                    except psycopg.OperationalError:
                        if raw.broken and attempt < tries:
                            continue
                        raise
                    reach.down = False
                    return found
            except PoolTimeout:  # no connection came: none could be made
                reach.down = True
                raise
    except psycopg.Error as exc:
        if _means_unavailable(exc):
            raise _unavailable(exc) from exc
        raise


def _read_pipelined(raw: psycopg.Connection[Any], fn: Callable[[PgConnection], T]) -> T:
    """`fn` in a read-only snapshot whose BEGIN goes with its first statement and ROLLBACK with the pipeline's end."""
    try:
        with raw.pipeline() as pipeline:
            raw.execute(_READ_BEGIN)
            found = fn(PgConnection(raw, pipeline))
            raw.execute("ROLLBACK")
        return found
    finally:
        if not raw.broken and _in_transaction(raw):  # fn raised: the pipeline skipped what followed
            raw.execute("ROLLBACK")


class PostgresStore(SqlOwnershipStore, SqlAccountStore, SqlMessageStore, SqlSocialStore, SqlThreadStore, SqlSettingsStore, SqlWebhookStore):
    """The shared Store; open it with `open_postgres_store`, which owns its pool and writer."""

    shared = True  # nodes share the database: actors claim themselves and fence their writes

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]], read_connections: int, max_batch: int) -> None:
        self._pool = pool
        self._read_limiter = trio.CapacityLimiter(read_connections)
        self._reach = _Reach()
        self._writer = BatchWriter("postgresql", partial(_commit_batch, pool, self._reach), max_batch)
        self._closed = False
        self.coalesced_reads(read_connections)

    async def write(self, fn: Callable[[PgConnection], T], *, fence: Fence | Claim | None = None) -> T:
        """Run `fn(conn)` inside the next group commit; return its result after COMMIT.

        Blocks while the queue is full. `fn` runs in a worker thread inside
        the batch's transaction and must not commit. Raises what `fn` raised
        (psycopg OperationalError becomes StorageUnavailable), OwnershipLost
        without running `fn` if `fence` is stale, or StorageUnavailable if
        the batch could not commit or the store is closed. If the caller is
        cancelled after queueing, the write may still commit.
        """
        return await self._writer.submit(fn, fence)

    async def read(self, fn: Callable[[PgConnection], T]) -> T:
        """Run `fn(conn)` on a read-only snapshot in a worker thread; return its result.

        Waits for a free connection (bounded). Raises what `fn` raised;
        errors that mean the server is unusable become StorageUnavailable.
        """
        if self._closed:
            raise StorageUnavailable("postgresql store is closed")
        return await trio.to_thread.run_sync(_read_in_thread, self._pool, self._reach, fn, limiter=self._read_limiter)

    async def claim(self, actor: str, node: str, now_ms: int) -> int:
        """Take `actor` over for `node`; the new epoch, durable when this returns (see OwnershipStore).

        The claim's row is read with the rest of its batch's results, and
        claims that meet in a batch (a lost node's actors starting at once)
        go as one statement (`_ClaimWrite`).
        """
        later = await self._writer.submit(_ClaimWrite(actor, node, now_ms), Claim(actor))
        return cast(int, later)  # the writer's thread put the value in its place before answering (_read_later)

    def statistics(self) -> dict[str, int]:
        """Writer counters for metrics: queue depth, batches and jobs, largest batch."""
        return self._writer.statistics()


# -- opening and closing: the pool and migrations ------------------------------


def describe(url: str) -> str:
    """`url` without its password, for logs and errors."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql (unparsable URL)"
    where = params.get("host") or "local socket"
    return f"postgresql database {params.get('dbname') or '(default)'} on {where}"


def _connection_params(url: str) -> dict[str, Any]:
    """The URL's parameters, with the bounded-wait defaults it does not set itself."""
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StorageUnavailable(f"bad PostgreSQL URL: {_one_line(exc)}") from exc
    params.setdefault("connect_timeout", _CONNECT_TIMEOUT_S)
    params.setdefault("tcp_user_timeout", _TCP_USER_TIMEOUT_MS)
    params.setdefault("application_name", "hubbub")
    return params


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Set up each pooled connection once, when it is made."""
    conn.adapters.register_dumper(bool, _FlagDumper)
    conn.execute(f"SET statement_timeout = {_STATEMENT_TIMEOUT_MS}")


def _migrate(params: dict[str, Any]) -> None:
    """Apply every packaged migration not yet in schema_version, all in one transaction.

    Nodes starting together take an advisory lock first: one migrates, the
    others then find nothing left to do.
    """
    known = packaged("postgres")
    with psycopg.connect(**params) as conn:  # commits on a clean exit, rolls back otherwise
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_time BIGINT NOT NULL)"
        )
        applied = {int(version) for (version,) in conn.execute("SELECT version FROM schema_version")}
        if applied and max(applied) > max((m.version for m in known), default=0):
            raise StorageUnavailable(f"schema version {max(applied)} is newer than this build")
        now_ms = int(time.time() * 1000)
        for m in known:
            if m.version not in applied:
                conn.execute(m.sql)  # no parameters: the file's statements run as one script
                conn.execute("INSERT INTO schema_version VALUES (%s, %s, %s)", (m.version, m.name, now_ms))


def _open_pool(url: str, size: int) -> ConnectionPool[psycopg.Connection[Any]]:
    """Migrate the schema, then open a pool of `size` connections; runs in a worker thread."""
    params = _connection_params(url)
    try:
        _migrate(params)
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            kwargs={**params, "autocommit": True},  # transactions are explicit: BEGIN ... COMMIT
            min_size=size,
            max_size=size,
            configure=_configure,
            name="hubbub",
            timeout=_POOL_WAIT_S,
            reconnect_timeout=_RECONNECT_GIVE_UP_S,
            open=False,
        )
        try:
            pool.open(wait=True, timeout=_CONNECT_TIMEOUT_S + 1)
        except BaseException:
            pool.close()
            raise
    except psycopg.Error as exc:
        raise StorageUnavailable(f"cannot open {describe(url)}: {_one_line(exc)}") from exc
    return pool


@asynccontextmanager
async def open_postgres_store(
    url: str, *, max_batch: int = 512, read_connections: int = _READ_CONNECTIONS
) -> AsyncIterator[PostgresStore]:
    """Connect to the database at `url` (a libpq URL or key=value string), migrate it, run the writer.

    On exit, queued writes are committed (bounded by a few seconds, after
    which they fail with StorageUnavailable), then the pool closes. Raises
    StorageUnavailable if the server cannot be reached, the URL is bad, or
    the schema is newer than this build.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    if read_connections < 1:
        raise ValueError(f"read_connections must be >= 1, got {read_connections}")
    pool = await trio.to_thread.run_sync(_open_pool, url, read_connections + 1)
    store = PostgresStore(pool, read_connections, max_batch)
    try:
        async with running(store._writer):
            yield store
    finally:
        store._closed = True
        with trio.CancelScope(shield=True):  # the pool's threads must not outlive the store
            await trio.to_thread.run_sync(partial(pool.close, timeout=FLUSH_TIMEOUT_S))
