"""Ownership epochs: the claim that takes an actor over, and the check on every write of it.

A node takes an actor over with `claim`: the actor's row in `actor_epochs`
gets the next epoch. Every write the actor makes then carries a Fence (its
name and that epoch). When a write batch begins, the engine reads the
current epoch of every actor the batch writes for, in the batch's own
transaction (`Owners.read`); a job whose fence is stale is not run at all
and fails alone with OwnershipLost, and the other jobs commit. Claims in the
same batch move the epochs they claim as they run, so a job queued behind a
claim is checked against the new epoch.

On PostgreSQL the read locks those rows until the batch commits (in actor
order, so two nodes' batches cannot deadlock on them): a claim made by
another node waits for the batch, and once it returns, no write fenced with
an older epoch can commit. SQLite has one writer at a time, so reading the
rows inside the batch's transaction is enough.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import OwnershipLost
from .base import Claim, Fence
from .sql import Connection, Cursor
from .writer import WriteJob

T = TypeVar("T")

# The next epoch of one actor; its first claim gets 1, so no held epoch is ever 0.
_CLAIM = (
    "INSERT INTO actor_epochs (actor, epoch, node, claimed_time) VALUES (?, 1, ?, ?)"
    " ON CONFLICT (actor) DO UPDATE SET epoch = actor_epochs.epoch + 1, node = excluded.node,"
    " claimed_time = excluded.claimed_time RETURNING epoch"
)
_OWNER = "SELECT node, epoch FROM actor_epochs WHERE actor = ?"

# How an engine reads (and on PostgreSQL locks) the rows of a batch's actors: the
# statement and its parameters for the actors' names (sorted). One text whatever
# their number, so statement caches keep one entry.
OwnersQuery = Callable[[list[str]], tuple[str, Sequence[Any]]]


def sqlite_owners(actors: list[str]) -> tuple[str, Sequence[Any]]:
    """SQLite: the batch already holds the one write lock; a plain read inside it is stable."""
    return "SELECT actor, epoch, node FROM actor_epochs WHERE actor IN (SELECT value FROM json_each(?))", (json.dumps(actors),)


def postgres_owners(actors: list[str]) -> tuple[str, Sequence[Any]]:
    """PostgreSQL: lock the rows in actor order until COMMIT, so a claim by another node waits for the batch."""
    return "SELECT actor, epoch, node FROM actor_epochs WHERE actor = ANY(?) ORDER BY actor FOR NO KEY UPDATE", (actors,)


class Owners:
    """The epochs one batch's jobs are checked against, as read when its transaction began."""

    __slots__ = ("_held",)

    def __init__(self, held: dict[str, tuple[int, str]]) -> None:
        self._held = held  # actor -> (epoch, node)

    @classmethod
    def read(cls, conn: Connection, batch: Sequence[WriteJob[Any]], query: OwnersQuery) -> Owners:
        """The current epochs of the actors `batch` writes for or claims; no statement if none does."""
        actors = sorted({job.fence.actor for job in batch if job.fence is not None})
        if not actors:
            return cls({})
        rows = conn.execute(*query(actors)).fetchall()
        return cls({actor: (int(epoch), node) for actor, epoch, node in rows})

    def refused(self, job: WriteJob[Any]) -> bool:
        """Whether `job`'s fence is stale; if so it gets OwnershipLost and must not run."""
        fence = job.fence
        if not isinstance(fence, Fence):
            return False
        held = self._held.get(fence.actor)
        if held is not None and held[0] == fence.epoch:
            return False
        now = "it was never claimed" if held is None else f"epoch {held[0]} of node {held[1] or 'this one'} holds it now"
        job.value, job.error = None, OwnershipLost(
            f"{fence.actor} was taken over ({now}, this write held epoch {fence.epoch}): nothing of the write was stored"
        )
        return True

    def ran(self, job: WriteJob[Any]) -> None:
        """After `job` ran: a claim's new epoch holds for the rest of the batch.

        A claim's value may be read only once all the batch's statements are
        answered (PostgreSQL's pipeline, `postgres._Later`); its new epoch is
        then the one read here plus one: the batch locked the actor's row
        when it read it (or there was none: the first claim gives 1).
        """
        if isinstance(job.fence, Claim) and job.error is None:
            actor = job.fence.actor
            epoch = job.value if isinstance(job.value, int) else self._held.get(actor, (0, ""))[0] + 1
            self._held[actor] = (epoch, "")


def send_claim(conn: Connection, actor: str, node: str, now_ms: int) -> Cursor:
    """Send the claim of `actor` for `node`; its one row, once read, holds the new epoch (the first claim gives 1)."""
    return conn.execute(_CLAIM, (actor, node, now_ms))


def epoch_of(claimed: Cursor) -> int:
    """The new epoch a claim's statement returned."""
    ((epoch,),) = claimed.fetchall()  # RETURNING: done once its row is read
    return int(epoch)


def claim_actor(conn: Connection, actor: str, node: str, now_ms: int) -> int:
    """Move `actor`'s epoch on for `node` (the first claim gives 1); the new epoch."""
    return epoch_of(send_claim(conn, actor, node, now_ms))


class SqlOwnershipStore:
    """OwnershipStore methods; mixed into a store class, which provides read/write."""

    write: Callable[..., Any]
    read: Callable[..., Any]

    async def claim(self, actor: str, node: str, now_ms: int) -> int:
        """Take `actor` over for `node`; the new epoch, durable when this returns (see OwnershipStore)."""
        epoch: int = await self.write(lambda conn: claim_actor(conn, actor, node, now_ms), fence=Claim(actor))
        return epoch

    async def owner(self, actor: str) -> tuple[str, int] | None:
        """(node, epoch) of the last claim of `actor`, or None."""

        def find(conn: Connection) -> tuple[str, int] | None:
            row = conn.execute(_OWNER, (actor,)).fetchone()
            return None if row is None else (str(row[0]), int(row[1]))

        found: tuple[str, int] | None = await self.read(find)
        return found
