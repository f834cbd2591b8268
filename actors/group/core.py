"""The group actor's core: its state, the step that stores a change, and the helpers every role uses.

Every change is stored first, then told to each member's account actor as
durable events (AccountEvents), so members' devices see it live or on
resume. A step collects what one message changes (`_Step`) and commits it
in one transaction when the handler is done (`_commit_step`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ..account.messages import AccountEvents, events_blob
from ..errors import GroupNotExist, InvalidArgument, NoPermission, NotGroupMember
from ..hooks import WebhookQueue
from ..runtime import Actor, Address, Asks, Reply, answer
from ..store.base import Fence, GroupRecord, GroupWrite, MessageRow, Store, ThreadRecord, fence_of
from ..wire import AnyDurableEvent, UserRef
from ..wire import social as w
from ..wire import threads as t
from . import rules
from .messages import GroupMsg
from .views import thread_wire

T = TypeVar("T")

Event = AnyDurableEvent

@dataclass(slots=True)
class GroupContext:
    store: Store
    post_account: Callable[[str, object], Awaitable[None]]
    stats: Counter[str] = field(default_factory=Counter)
    max_members: int = 10_000  # a message fans out to every member: the size bounds its cost
    max_threads: int = 1_000  # live threads, held (with their members) in the actor's memory
    webhooks: WebhookQueue | None = None  # calls to the application backend (None: none configured)
    # one message for many accounts at once (AccountContext.post_deliveries); None: a post each
    post_deliveries: Callable[[MessageRow, int | None, list[tuple[str, str | None]]], Awaitable[None]] | None = None


def _now() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Step:
    """What handling one message changes: stored together when it ends."""

    before: GroupRecord | None
    record: GroupRecord | None = None
    upsert: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    notices: list[tuple[str, tuple[Event, ...], str | None]] = field(default_factory=list)
    add_applications: list[tuple[str, int]] = field(default_factory=list)
    remove_applications: list[str] = field(default_factory=list)
    bar: list[str] = field(default_factory=list)
    unbar: list[str] = field(default_factory=list)
    member_attributes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    threads: dict[str, ThreadRecord] = field(default_factory=dict)  # thread rows to save, by threadID
    drop_threads: list[str] = field(default_factory=list)
    thread_joins: list[tuple[str, str, int]] = field(default_factory=list)
    thread_leaves: list[tuple[str, str]] = field(default_factory=list)


class GroupCore(Actor[GroupMsg], ABC):
    """One group; its state is loaded from storage and written back on every change.

    The roles (membership, details, messages) are mixins over this core; the
    actor (actor.py) routes each message to its role's handler.
    """

    def __init__(self, address: Address, ctx: GroupContext) -> None:
        super().__init__(address)
        self.group_id = address.key
        self.ctx = ctx
        self.record: GroupRecord | None = None
        self._step = _Step(None)

    async def start(self) -> None:
        self.record = await self.ctx.store.load_group(self.group_id)

    def _fence(self) -> Fence | None:
        """What every write of this group carries: it commits only while this node's claim holds."""
        return fence_of(str(self.address), self.epoch)

    async def handle(self, msg: GroupMsg, reply: Reply[Any] | None) -> None:
        self._step = _Step(self.record)
        try:
            answered = await self._serve(msg)
            await self._commit_step()
        except BaseException:
            self.record = self._step.before  # nothing of this step was stored
            raise
        finally:
            self._step = _Step(self.record)
        answered(reply)

    @abstractmethod
    async def _serve(self, msg: GroupMsg) -> Callable[[Reply[Any] | None], None]:
        """Handle `msg` up to its commit; returns how to answer it once the step is stored."""

    # ---- helpers --------------------------------------------------------------

    def _group(self) -> GroupRecord:
        if self.record is None or self.record.dismissed:
            raise GroupNotExist(f"no group {self.group_id!r}")
        return self.record

    def _role_of(self, user: str) -> int:
        found = self._group().members.get(user)
        if found is None:
            raise NotGroupMember("not a member of this group")
        return found[0]

    def _require_room_for(self, size: int) -> None:
        if size > self.ctx.max_members:
            raise InvalidArgument(f"a group has at most {self.ctx.max_members} members; this would make {size}")

    def _managers(self) -> list[str]:
        """The Owner and the Admins: who answers join applications."""
        return [u for u, (role, _) in self._group().members.items() if rules.can_manage(role)]

    def _require_manager(self, user: str) -> int:
        role = self._role_of(user)
        if not rules.can_manage(role):
            raise NoPermission("only the owner or an admin may do this")
        return role

    async def _save(
        self,
        record: GroupRecord,
        *,
        upsert: Iterable[str] = (),
        remove: Iterable[str] = (),
        add_applications: Iterable[tuple[str, int]] = (),
        remove_applications: Iterable[str] = (),
        bar: Iterable[str] = (),
        unbar: Iterable[str] = (),
    ) -> None:
        """Make `record` this step's new state; it is stored, with the step's notices, when the step ends."""
        step = self._step
        removed = set(remove)
        if removed & record.member_attributes.keys():  # the attributes go with the membership's row
            record = replace(record, member_attributes={u: m for u, m in record.member_attributes.items() if u not in removed})
        step.record = record
        step.upsert.extend(upsert)
        step.remove.extend(removed)
        step.add_applications.extend(add_applications)
        step.remove_applications.extend(remove_applications)
        step.bar.extend(bar)
        step.unbar.extend(unbar)
        self.record = record

    async def _commit_step(self) -> None:
        """Store the step's changes and its members' events in one transaction, then tell the members.

        The events wait in the outbox until each member's account takes
        them, so a crash after the commit loses none of them.
        """
        step = self._step
        if step.record is None:
            return
        record = step.record
        rows = [(u, *record.members[u]) for u in dict.fromkeys(step.upsert) if u in record.members]
        queued = [(user, events_blob(events), exclude) for user, events, exclude in step.notices]
        write = GroupWrite(
            record, upsert_members=rows, remove_members=list(step.remove), member_events=queued,
            add_applications=step.add_applications, remove_applications=step.remove_applications, bar=step.bar, unbar=step.unbar,
            member_attributes=step.member_attributes, threads=list(step.threads.values()), drop_threads=step.drop_threads,
            thread_joins=step.thread_joins, thread_leaves=step.thread_leaves,
        )
        ids = await self.ctx.store.commit_group(write, fence=self._fence())
        for (user, events, exclude), outbox_id in zip(step.notices, ids, strict=True):
            await self.ctx.post_account(user, AccountEvents(events, exclude, outbox_id))

    # ---- threads (PROTOCOL.md §15) ---------------------------------------------------

    async def _put_thread(self, thread: ThreadRecord, *, joins: Iterable[str] = (), leaves: Iterable[str] = ()) -> None:
        """Make `thread` this step's state of it (`joins` and `leaves` name who came and went); stored when the step ends."""
        record = self.record
        assert record is not None
        step = self._step
        step.threads[thread.thread_id] = thread
        step.thread_joins.extend((thread.thread_id, u, thread.members[u]) for u in joins)
        step.thread_leaves.extend((thread.thread_id, u) for u in leaves)
        await self._save(replace(record, threads={**record.threads, thread.thread_id: thread}))

    async def _drop_thread(self, thread: ThreadRecord, msg: Any, audience: Iterable[str]) -> None:
        """Destroy `thread`: its rows go when the step ends, and `audience` hears of it."""
        record = self.record
        assert record is not None
        self._step.threads.pop(thread.thread_id, None)
        self._step.drop_threads.append(thread.thread_id)
        await self._save(replace(record, threads={k: v for k, v in record.threads.items() if k != thread.thread_id}))
        await self._tell([t.ThreadChanged("destroy", thread_wire(thread))], audience, msg)

    async def _leave_threads(self, users: Iterable[str], *, kicked: bool, msg: Any) -> None:
        """Users leaving the group (or kicked from it) leave its threads.

        Each sees the thread go (`threadChanged` leave or kick); the thread's
        other members see them leave (`threadMemberChanged`).
        """
        record = self.record
        assert record is not None
        gone = set(users)
        event: t.MemberEvent = "kick" if kicked else "leave"
        for thread in list(record.threads.values()):
            leaving = [u for u in thread.members if u in gone]
            if not leaving:
                continue
            after = replace(thread, members={u: joined for u, joined in thread.members.items() if u not in gone})
            await self._put_thread(after, leaves=leaving)
            await self._tell([t.ThreadChanged(event, thread_wire(after))], leaving, msg)
            await self._tell([t.ThreadMemberChanged(thread.thread_id, event, leaving)], after.members, msg)

    def _wire(self) -> w.GroupInfo:
        record = self.record
        assert record is not None
        owner = next((u for u, (role, _) in record.members.items() if role == rules.OWNER), None)
        return w.GroupInfo(
            group_id=record.group_id,
            group_name=record.name,
            group_notice=record.notice,
            group_attributes=dict(record.attributes),
            owner_user_id=owner,
            member_count=len(record.members),
            created_time=record.created_time,
            join_mode=record.join_mode,
        )

    def _member_wires(self, users: Iterable[str]) -> list[w.GroupMember]:
        members = self.record.members if self.record is not None else {}
        return [w.GroupMember(user_id=u, member_role=members[u][0], join_time=members[u][1]) for u in users if u in members]

    async def _member_change(self, audience: Iterable[str], users: dict[str, int], state: int, event: int, msg: Any) -> None:
        """Tell `audience` that `users` (userID -> role they have or had) entered or left."""
        wires = [w.GroupMemberRole(user_id=u, member_role=role) for u, role in users.items()]
        changed = w.GroupMemberStateChanged(self.group_id, state, event, wires, UserRef(user_id=msg.user))
        await self._tell([changed], audience, msg)

    async def _tell(self, events: list[Event], users: Iterable[str], msg: Any) -> None:
        """Durable events for each user's account, sent when the step is stored; the acting device is left out (it has the reply)."""
        if events:
            self._step.notices.extend((user, tuple(events), msg.login_id if user == msg.user else None) for user in users)


def _answer_with(msg: Asks[T], value: T) -> Callable[[Reply[Any] | None], None]:
    """Answer `msg` with `value` later (once the step is stored), typed by what `msg` asks for."""
    return lambda reply: answer(reply, msg, value)

