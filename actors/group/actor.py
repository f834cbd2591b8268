"""GroupActor: one group's members, roles, info and message order.

Every change is stored first, then told to each member's account actor as
durable events (AccountEvents), so members' devices see it live or on
resume. Group messages are stored once, with a pending delivery per member
in the same transaction; each member's account consumes its delivery.

The handlers live by role: membership.py (joining and leaving), details.py
(roles, info, attributes, queries), sending.py (messages), threads.py (the
group's threads, PROTOCOL.md §15), over the state and step of core.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_never

from ..runtime import Reply
from ..wire import social as w
from .core import GroupContext, _answer_with
from .details import GroupDetails
from .membership import Membership
from .messages import (
    AnswerApplication,
    CreateGroup,
    CreateThread,
    DestroyThread,
    DismissGroup,
    GroupMsg,
    InviteUsers,
    JoinGroup,
    JoinThread,
    KickMembers,
    KickThreadMembers,
    LeaveGroup,
    LeaveThread,
    QueryGroupInfo,
    QueryMemberAttributes,
    QueryMembers,
    QueryThread,
    QueryThreadMembers,
    QueryThreads,
    RenameThread,
    SendGroupMessage,
    SendThreadMessage,
    SetMemberAttributes,
    SetRole,
    UpdateGroupInfo,
    UpdateJoinMode,
)
from .threads import Threads

__all__ = ["GroupActor", "GroupContext"]


class GroupActor(Membership, GroupDetails, Threads):
    """One group; its state is loaded from storage and written back on every change."""

    async def _serve(self, msg: GroupMsg) -> Callable[[Reply[Any] | None], None]:
        """Handle `msg` up to its commit; returns how to answer it once the step is stored."""
        match msg:
            case CreateGroup():
                return _answer_with(msg, await self._create(msg))
            case JoinGroup():
                return _answer_with(msg, await self._join(msg))
            case LeaveGroup():
                return _answer_with(msg, await self._leave(msg))
            case InviteUsers():
                return _answer_with(msg, await self._invite(msg))
            case KickMembers():
                return _answer_with(msg, await self._kick(msg))
            case DismissGroup():
                return _answer_with(msg, await self._dismiss(msg))
            case SetRole():
                return _answer_with(msg, await self._set_role(msg))
            case UpdateGroupInfo():
                return _answer_with(msg, await self._update_info(msg))
            case AnswerApplication():
                return _answer_with(msg, await self._answer_application(msg))
            case UpdateJoinMode():
                return _answer_with(msg, await self._update_join_mode(msg))
            case SetMemberAttributes():
                return _answer_with(msg, await self._set_member_attributes(msg))
            case QueryMemberAttributes():
                return _answer_with(msg, self._query_member_attributes(msg))
            case QueryGroupInfo():
                self._role_of(msg.user)
                return _answer_with(msg, w.GroupInfoReply(group_info=self._wire()))
            case QueryMembers():
                return _answer_with(msg, self._query_members(msg))
            case SendGroupMessage():
                return _answer_with(msg, await self._send(msg))
            case CreateThread():
                return _answer_with(msg, await self._create_thread(msg))
            case JoinThread():
                return _answer_with(msg, await self._join_thread(msg))
            case LeaveThread():
                return _answer_with(msg, await self._leave_thread(msg))
            case RenameThread():
                return _answer_with(msg, await self._rename_thread(msg))
            case DestroyThread():
                return _answer_with(msg, await self._destroy_thread(msg))
            case KickThreadMembers():
                return _answer_with(msg, await self._kick_thread_members(msg))
            case SendThreadMessage():
                return _answer_with(msg, await self._send_thread(msg))
            case QueryThreads():
                return _answer_with(msg, self._query_threads(msg))
            case QueryThread():
                return _answer_with(msg, self._query_thread(msg))
            case QueryThreadMembers():
                return _answer_with(msg, self._query_thread_members(msg))
            case _:
                assert_never(msg)

