"""Threads of the group (PROTOCOL.md §15): create, join, leave, rename, destroy, kick, messages, queries.

A thread lives in its group's actor: who may join it, rename it or kick
from it depends on the group's members and roles, and leaving the group
leaves its threads, so both change in one step and one transaction.
"""

from __future__ import annotations

from dataclasses import replace

from ..account import conversations as conv
from ..errors import AlreadyExists, InvalidArgument, MessageNotFound, NoPermission, NotThreadMember, ThreadNotExist
from ..store.base import ClientMessageIDTaken, GroupWrite, ThreadRecord
from ..wire import threads as t
from ..wire.messages import Message
from . import rules
from .core import _now
from .messages import (
    CreateThread,
    DestroyThread,
    JoinThread,
    KickThreadMembers,
    LeaveThread,
    QueryThread,
    QueryThreadMembers,
    QueryThreads,
    RenameThread,
    SendThreadMessage,
)
from .sending import GroupMessages, _message_row
from .views import thread_wire


class Threads(GroupMessages):
    """The group's threads, each with its own members and message order."""

    def _thread(self, thread_id: str) -> ThreadRecord:
        found = self._group().threads.get(thread_id)
        if found is None:
            raise ThreadNotExist(f"no thread {thread_id!r}")
        return found

    def _thread_member(self, user: str, thread_id: str) -> ThreadRecord:
        """The thread, for one of its members: 4002 outside the group, 7001 no thread, 7002 not in it."""
        self._role_of(user)
        thread = self._thread(thread_id)
        if user not in thread.members:
            raise NotThreadMember("not a member of this thread")
        return thread

    def _require_thread_manager(self, user: str, thread: ThreadRecord) -> None:
        """The thread's owner, or the group's Admins and Owner (4003 for others)."""
        if thread.owner != user and not rules.can_manage(self._role_of(user)):
            raise NoPermission("only the thread's owner or the group's owner or admins may do this")

    async def _create_thread(self, msg: CreateThread) -> t.ThreadReply:
        record = self._group()
        self._role_of(msg.user)
        if await self.ctx.store.group_message_seq(self.group_id, msg.parent_message_id) is None:
            raise MessageNotFound(f"no message {msg.parent_message_id!r} in this group")
        if any(thread.parent_message_id == msg.parent_message_id for thread in record.threads.values()):
            raise AlreadyExists("this message already has a thread")
        if len(record.threads) >= self.ctx.max_threads:
            raise InvalidArgument(f"a group has at most {self.ctx.max_threads} live threads; destroy one first")
        now = _now()
        thread = ThreadRecord(msg.thread_id, self.group_id, msg.parent_message_id, msg.name, msg.user, now, members={msg.user: now})
        await self._put_thread(thread, joins=[msg.user])
        await self._tell([t.ThreadChanged("create", thread_wire(thread))], record.members, msg)
        return t.ThreadReply(thread=thread_wire(thread, msg.user))

    async def _join_thread(self, msg: JoinThread) -> t.ThreadReply:
        self._role_of(msg.user)
        thread = self._thread(msg.thread_id)
        if msg.user in thread.members:
            raise AlreadyExists("already a member of this thread")
        after = replace(thread, members={**thread.members, msg.user: _now()})
        await self._put_thread(after, joins=[msg.user])
        await self._tell([t.ThreadChanged("join", thread_wire(after))], [msg.user], msg)
        await self._tell([t.ThreadMemberChanged(thread.thread_id, "join", [msg.user])], thread.members, msg)
        return t.ThreadReply(thread=thread_wire(after, msg.user))

    async def _leave_thread(self, msg: LeaveThread) -> t.ThreadReply:
        thread = self._thread_member(msg.user, msg.thread_id)
        after = replace(thread, members={u: joined for u, joined in thread.members.items() if u != msg.user})
        await self._put_thread(after, leaves=[msg.user])
        await self._tell([t.ThreadChanged("leave", thread_wire(after))], [msg.user], msg)
        await self._tell([t.ThreadMemberChanged(thread.thread_id, "leave", [msg.user])], after.members, msg)
        return t.ThreadReply(thread=thread_wire(after, msg.user))

    async def _rename_thread(self, msg: RenameThread) -> t.ThreadReply:
        thread = self._thread(msg.thread_id)
        self._require_thread_manager(msg.user, thread)
        after = replace(thread, name=msg.name)
        await self._put_thread(after)
        # its members, and the acting user's other devices (an admin need not be in the thread)
        await self._tell([t.ThreadChanged("nameUpdate", thread_wire(after))], dict.fromkeys([*after.members, msg.user]), msg)
        return t.ThreadReply(thread=thread_wire(after, msg.user))

    async def _destroy_thread(self, msg: DestroyThread) -> t.ThreadReply:
        thread = self._thread(msg.thread_id)
        self._require_thread_manager(msg.user, thread)
        await self._drop_thread(thread, msg, self._group().members)
        return t.ThreadReply(thread=thread_wire(thread, msg.user))

    async def _kick_thread_members(self, msg: KickThreadMembers) -> t.ThreadReply:
        thread = self._thread(msg.thread_id)
        actor_role = self._require_manager(msg.user)
        record = self._group()
        targets = list(dict.fromkeys(msg.user_ids))
        for target in targets:
            if target not in thread.members:
                raise NotThreadMember(f"{target!r} is not a member of this thread")
            if target == msg.user:
                raise InvalidArgument("leave the thread with leaveThread instead of kicking yourself")
            if target in record.members and not rules.can_kick(actor_role, record.members[target][0]):
                raise NoPermission(f"your role may not kick {target!r}")
        after = replace(thread, members={u: joined for u, joined in thread.members.items() if u not in targets})
        await self._put_thread(after, leaves=targets)
        await self._tell([t.ThreadChanged("kick", thread_wire(after))], targets, msg)
        changed = t.ThreadMemberChanged(thread.thread_id, "kick", targets)
        await self._tell([changed], dict.fromkeys([*after.members, msg.user]), msg)
        return t.ThreadReply(thread=thread_wire(after, msg.user))

    async def _send_thread(self, msg: SendThreadMessage) -> Message:
        thread = self._thread_member(msg.user, msg.thread_id)
        earlier = await self._earlier(msg)
        if earlier is not None:
            return earlier
        seq = thread.last_seq + 1
        message = _message_row(msg, 3, thread.thread_id)
        after = replace(thread, last_seq=seq, last_message=message)
        record = replace(self._group(), threads={**self._group().threads, thread.thread_id: after})
        try:
            await self._fan_out(GroupWrite(record, new_message=message, message_seq=seq, threads=[after]), after.members, msg.login_id)
        except ClientMessageIDTaken as taken:
            return await self._message_that_took(msg.user, taken)
        self.ctx.stats["thread_messages"] += 1
        return conv.message_wire(message, thread.thread_id, seq, conv.SEND)

    # ---- queries --------------------------------------------------------------

    def _query_threads(self, msg: QueryThreads) -> t.ThreadListReply:
        self._role_of(msg.user)
        threads = list(self._group().threads.values())  # oldest first, as loaded and as created
        page = threads[msg.next_flag : msg.next_flag + msg.count]
        following = msg.next_flag + len(page)
        return t.ThreadListReply(
            thread_list=[thread_wire(thread, msg.user) for thread in page], next_flag=following if following < len(threads) else 0
        )

    def _query_thread(self, msg: QueryThread) -> t.ThreadReply:
        self._role_of(msg.user)
        return t.ThreadReply(thread=thread_wire(self._thread(msg.thread_id), msg.user))

    def _query_thread_members(self, msg: QueryThreadMembers) -> t.ThreadMemberListReply:
        self._role_of(msg.user)
        thread = self._thread(msg.thread_id)
        members = list(thread.members)
        page = members[msg.next_flag : msg.next_flag + msg.count]
        following = msg.next_flag + len(page)
        return t.ThreadMemberListReply(
            thread_id=thread.thread_id, user_ids=page, next_flag=following if following < len(members) else 0
        )
