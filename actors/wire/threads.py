"""Wire schema of threads (PROTOCOL.md §15, Easemob's chat threads).

A thread is a sub-conversation of a group started from one of its messages
(one thread per parent message, 4004 for a second). Only members of the
group may join it (4002); its messages are a conversation of type 3 whose
ID is the threadID, sent to the thread's members only (7002 for others).
The thread's owner, or the group's Admins and Owner, rename and destroy it
(4003 for others); only the group's Admins and Owner kick its members.
Every change is a durable event; leaving or being kicked from the group
leaves its threads, and dismissing the group destroys them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .base import ID, Body, DurableEvent, Reply, Request, StoredUInt
from .messages import Message

ThreadName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ThreadEvent = Literal["create", "join", "leave", "nameUpdate", "destroy", "kick"]
MemberEvent = Literal["join", "leave", "kick"]


class ThreadInfo(Body, frozen=True):
    """A thread as its group's members see it.

    `lastMessage` is shown as received (direction 1) in events, and from the
    asking user's side in replies.
    """

    thread_id: str
    group_id: str
    parent_message_id: str
    thread_name: str
    owner_user_id: str
    create_time: int
    member_count: int
    last_message: Message | None = None


class ThreadReply(Reply, frozen=True):
    thread: ThreadInfo


class ThreadListReply(Reply, frozen=True):
    """`nextFlag` 0 means the last page."""

    thread_list: list[ThreadInfo]
    next_flag: int


class ThreadMemberListReply(Reply, frozen=True):
    """Members in the order they joined; `nextFlag` 0 means the last page."""

    thread_id: str
    user_ids: list[str]
    next_flag: int


class ThreadPageConfig(Body, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    next_flag: StoredUInt = 0


class CreateThread(Request, tag="createThread"):
    """A group member starts a thread from group message `parentMessageID`; the caller owns it and is its first member."""

    reply = ThreadReply

    group_id: ID
    parent_message_id: ID
    thread_name: ThreadName


class JoinThread(Request, tag="joinThread"):
    """A member of the thread's group joins it (4004 if already in it)."""

    reply = ThreadReply

    thread_id: ID


class LeaveThread(Request, tag="leaveThread"):
    """A member of the thread leaves it (7002 for others)."""

    reply = ThreadReply

    thread_id: ID


class UpdateThreadName(Request, tag="updateThreadName"):
    """The thread's owner, or the group's Admin or Owner, renames it."""

    reply = ThreadReply

    thread_id: ID
    thread_name: ThreadName


class DestroyThread(Request, tag="destroyThread"):
    """The thread's owner, or the group's Admin or Owner, destroys it (its messages stay in members' history)."""

    reply = ThreadReply

    thread_id: ID


class KickThreadMembers(Request, tag="kickThreadMembers"):
    """The group's Admin or Owner removes members from the thread (each must be in it: 7002)."""

    reply = ThreadReply

    thread_id: ID
    user_ids: Annotated[list[ID], msgspec.Meta(min_length=1, max_length=100)]


class QueryThreadList(Request, tag="queryThreadList"):
    """Group members: a page of the group's threads, oldest first."""

    reply = ThreadListReply

    group_id: ID
    config: ThreadPageConfig = ThreadPageConfig()


class QueryThreadInfo(Request, tag="queryThreadInfo"):
    """Group members: one thread."""

    reply = ThreadReply

    thread_id: ID


class QueryThreadMemberList(Request, tag="queryThreadMemberList"):
    """Group members: a page of the thread's members."""

    reply = ThreadMemberListReply

    thread_id: ID
    config: ThreadPageConfig = ThreadPageConfig()


class QueryJoinedThreadList(Request, tag="queryJoinedThreadList"):
    """A page of the threads the caller is a member of, in every group, oldest first."""

    reply = ThreadListReply

    config: ThreadPageConfig = ThreadPageConfig()


# ---- events (all durable) ------------------------------------------------------


class ThreadChanged(DurableEvent, tag="threadChanged", frozen=True):
    """A thread was created or destroyed (group members; its own members when the group is dismissed), renamed (its members), joined, left or kicked from (that user)."""

    event: ThreadEvent
    thread: ThreadInfo


class ThreadMemberChanged(DurableEvent, tag="threadMemberChanged", frozen=True):
    """To the thread's members: `userIDs` joined, left or were kicked."""

    thread_id: str
    event: MemberEvent
    user_ids: list[str]


class ThreadMessageReceived(DurableEvent, tag="threadMessageReceived", frozen=True):
    """To every thread member device but the sending one; `fromConversationID` is the threadID."""

    message_list: list[Message]
    from_conversation_id: str
