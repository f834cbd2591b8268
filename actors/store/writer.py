"""Group commit, the same for every engine: one writer task, one transaction per batch.

Callers put a `WriteJob` on a bounded channel with `BatchWriter.submit`. The
writer task takes every job already waiting (up to `max_batch`) and hands
the batch to the engine's `commit_batch`, which runs in a worker thread,
applies every job in ONE transaction and leaves each job's value or error
on the job. After it returns every caller is answered, so an answered write
is committed. The engine decides what a failure means (one job's error, or
StorageUnavailable for the whole batch); this module only moves jobs.

A job's function may be a `Bulk` write: the engine may then apply a run of
such jobs of one kind, next to each other in the batch, with one statement
per table for them all (a group message's deliveries to its members), and
runs each alone whenever the batch is retried job by job.

A job may carry a fence (the actor it writes for and the epoch it holds) or
a claim (it moves that actor's epoch on): the engine checks fences in the
batch's transaction (see `fencing`), and a stale one fails its job alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Generic, TypeVar, cast

import trio

from ..errors import OwnershipLost, StorageUnavailable
from .base import Claim, Fence

T = TypeVar("T")

# Bound on flushing queued writes at close; then the rest fail.
FLUSH_TIMEOUT_S = 5.0


class WriteJob(Generic[T]):
    """One caller's write: its function, then its answer once the batch ended."""

    __slots__ = ("fn", "fence", "done", "finished", "value", "error", "bulk")

    def __init__(self, fn: Callable[[Any], T], fence: Fence | Claim | None = None) -> None:
        self.fn = fn
        self.fence = fence  # whose epoch the job is checked against (Fence), or moves on (Claim)
        self.done = trio.Event()  # set in the trio thread after the batch ended
        self.finished = False  # set by the worker thread once value/error is final
        self.value: T | None = None
        self.error: BaseException | None = None
        self.bulk = False  # set by the engine when the job was applied together with its neighbours

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return cast(T, self.value)


CommitBatch = Callable[[list[WriteJob[Any]]], bool]


class Bulk:
    """A job's function that can also be applied together with others of its class.

    `__call__(conn)` applies it alone; `apply_all(conn, writes)` applies
    several (in their order, with the same result as one after the other)
    and returns each one's value. Whatever `apply_all` raises, the engine
    retries the batch job by job, so it may raise on anything a lone write
    would answer differently (a repeat, a missing row).
    """

    __slots__ = ()
    bulk_engines: ClassVar[frozenset[str]] = frozenset()  # the engines whose connections `apply_all` is written for

    def __call__(self, conn: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply_all(cls, conn: Any, writes: Sequence[Any]) -> list[Any]:
        raise NotImplementedError


def runs_of(batch: list[WriteJob[Any]], engine: str) -> Iterator[list[WriteJob[Any]]]:
    """`batch` in order, as runs to apply: a lone job, or neighbours of one `Bulk` class that `engine` applies together."""
    run: list[WriteJob[Any]] = []
    for job in batch:
        fn = job.fn
        together = isinstance(fn, Bulk) and engine in fn.bulk_engines and type(fn) is type(run[0].fn) if run else False
        if run and not together:
            yield run
            run = []
        run.append(job)
    if run:
        yield run


def apply_run(conn: Any, run: list[WriteJob[Any]]) -> None:
    """Run the jobs of one run (see `runs_of`), setting each one's value; raises what a job or the bulk write raised."""
    if len(run) == 1:
        run[0].value = run[0].fn(conn)
        return
    first = run[0].fn
    assert isinstance(first, Bulk)  # runs_of puts only bulk writes of one class in a longer run
    values = type(first).apply_all(conn, [job.fn for job in run])
    for job, value in zip(run, values, strict=True):
        job.value, job.bulk = value, True


class BatchWriter:
    """The writer task of one store and the queue in front of it.

    `commit_batch(batch)` runs in a worker thread, one at a time; it must
    set every job's value or error and `finished`, and return whether the
    transaction committed.
    """

    def __init__(self, engine: str, commit_batch: CommitBatch, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._engine = engine
        self._commit_batch = commit_batch
        self._max_batch = max_batch
        # The writer's own limiter: never waits behind unrelated to_thread users.
        self.limiter = trio.CapacityLimiter(1)
        # Sized to one batch: while a batch commits the next one fills up; a
        # deeper queue only adds latency and memory. A full queue blocks
        # callers, which is the backpressure that should reach the socket.
        self._send: trio.MemorySendChannel[WriteJob[Any]]
        self._receive: trio.MemoryReceiveChannel[WriteJob[Any]]
        self._send, self._receive = trio.open_memory_channel(max_batch)
        # Shielded so an outer cancellation cannot stop the flush at close;
        # `flush` cancels it after FLUSH_TIMEOUT_S instead.
        self._scope = trio.CancelScope(shield=True)
        self._done = trio.Event()
        self._batch_ended = trio.lowlevel.ParkingLot()
        self._closing = False  # set at exit: new writes are refused, queued ones flushed
        self._batches_committed = 0
        self._batches_failed = 0
        self._jobs_committed = 0
        self._jobs_failed = 0
        self._jobs_fenced = 0
        self._jobs_bulk = 0
        self._largest_batch = 0

    async def submit(self, fn: Callable[[Any], T], fence: Fence | Claim | None = None) -> T:
        """Queue `fn` for the next batch and return its result once the batch ended.

        Blocks while the queue is full. Raises what the engine left on the
        job (OwnershipLost for a stale `fence`), or StorageUnavailable if the
        store is closed. If the caller is cancelled after queueing, the
        write may still commit.
        """
        if self._closing:
            raise StorageUnavailable(f"{self._engine} store is closed")
        job = WriteJob(fn, fence)
        try:
            await trio.lowlevel.checkpoint_if_cancelled()  # a caller cancelled already queues nothing
            try:
                # Room in the queue: in without a schedule point of its own (the wait
                # below is one); no caller is blocked on a queue with room, so order holds.
                self._send.send_nowait(job)
            except trio.WouldBlock:
                await self._send.send(job)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise StorageUnavailable(f"{self._engine} store is closed") from None
        await job.done.wait()
        return job.result()

    def statistics(self) -> dict[str, int]:
        """Writer counters for metrics: queue depth, batches and jobs (fenced: refused as stale; bulk: applied with neighbours), largest batch."""
        return {
            "queue_depth": self._send.statistics().current_buffer_used,
            "batches_committed": self._batches_committed,
            "batches_failed": self._batches_failed,
            "jobs_committed": self._jobs_committed,
            "jobs_failed": self._jobs_failed,
            "jobs_fenced": self._jobs_fenced,
            "jobs_bulk": self._jobs_bulk,
            "largest_batch": self._largest_batch,
        }

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Commit batches until `flush` closes the queue; every job is answered on the way out."""
        batch: list[WriteJob[Any]] = []
        try:
            with self._scope:
                task_status.started()
                async for first in self._receive:  # ends once `flush` closed the send side
                    batch = [first]
                    self._take_waiting(batch)
                    await self._commit(batch)
                    batch = []
        finally:
            self._fail_unanswered(batch)
            self._done.set()

    def _take_waiting(self, batch: list[WriteJob[Any]]) -> None:
        while len(batch) < self._max_batch:
            try:
                batch.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return

    async def _commit(self, batch: list[WriteJob[Any]]) -> None:
        # Not abandoned on cancel: the thread owns the connection until it returns.
        committed = await trio.to_thread.run_sync(self._commit_batch, batch, limiter=self.limiter)
        failed = sum(job.error is not None for job in batch)
        self._largest_batch = max(self._largest_batch, len(batch))
        self._jobs_failed += failed
        self._jobs_fenced += sum(isinstance(job.error, OwnershipLost) for job in batch)
        if committed:
            self._batches_committed += 1
            self._jobs_committed += len(batch) - failed
            self._jobs_bulk += sum(job.bulk and job.error is None for job in batch)
        else:
            self._batches_failed += 1
        for job in batch:
            job.done.set()
        self._batch_ended.unpark_all()

    def _fail_unanswered(self, batch: list[WriteJob[Any]]) -> None:
        """Answer every job still held or queued, so no caller waits forever."""
        pending = list(batch)
        while True:
            try:
                pending.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        self._receive.close()  # later senders get BrokenResourceError
        for job in pending:
            if not job.finished:
                job.value, job.error = None, StorageUnavailable(f"{self._engine} store closed before the write ran")
                self._jobs_failed += 1
            job.done.set()
        self._batch_ended.unpark_all()

    async def flush(self) -> None:
        """Refuse new writes, commit every write already submitted, stop the writer (bounded).

        Callers blocked on a full queue count as submitted: each batch the
        writer takes lets them in, so the send side closes once none waits.
        """
        self._closing = True
        with trio.move_on_after(FLUSH_TIMEOUT_S, shield=True):
            while self._send.statistics().tasks_waiting_send and not self._done.is_set():
                await self._batch_ended.park()
            self._send.close()
            await self._done.wait()
        self._send.close()  # if the deadline passed first: blocked callers fail
        self._scope.cancel()  # no-op once the writer ended


@asynccontextmanager
async def running(writer: BatchWriter) -> AsyncIterator[None]:
    """Run `writer` for the body; at exit flush it (bounded), then stop it.

    An exception of the body or the writer is raised as itself, never
    wrapped in an ExceptionGroup, so callers need no except*.
    """
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            try:
                yield
            finally:
                await writer.flush()
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        _raise_alone(group.exceptions[0])


def _raise_alone(only: BaseException) -> None:
    """Re-raise the one exception of a nursery's group as itself."""
    context = only.__context__
    try:
        raise only
    finally:
        only.__context__ = context  # hide the group, keep the original chain
