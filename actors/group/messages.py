"""The group actor's inbox. `user`/`login_id` name the acting user and device."""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime import Asks
from ..wire import group_joining as j
from ..wire import group_member_attributes as a
from ..wire import social as w
from ..wire import threads as t
from ..wire.messages import Message, TextOrBytes


@dataclass(frozen=True, slots=True)
class CreateGroup(Asks[w.CreateGroupReply]):
    user: str
    login_id: str
    name: str
    member_ids: tuple[str, ...]
    join_mode: int = 0


@dataclass(frozen=True, slots=True)
class JoinGroup(Asks[w.JoinGroupReply]):
    user: str
    login_id: str


@dataclass(frozen=True, slots=True)
class LeaveGroup(Asks[w.GroupIDReply]):
    user: str
    login_id: str


@dataclass(frozen=True, slots=True)
class InviteUsers(Asks[w.InviteUsersReply]):
    user: str
    login_id: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KickMembers(Asks[w.KickMembersReply]):
    user: str
    login_id: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DismissGroup(Asks[w.GroupIDReply]):
    user: str
    login_id: str


@dataclass(frozen=True, slots=True)
class SetRole(Asks[w.GroupMemberRolesReply]):
    """Owner only: give `target` a role; role 1 (Owner) transfers ownership."""

    user: str
    login_id: str
    target: str
    role: int


@dataclass(frozen=True, slots=True)
class UpdateGroupInfo(Asks[w.GroupInfoReply]):
    """Admin or Owner: change name, notice or attributes (None leaves a field alone)."""

    user: str
    login_id: str
    name: str | None = None
    notice: str | None = None
    set_attributes: tuple[tuple[str, str], ...] = ()
    delete_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnswerApplication(Asks[j.GroupApplicationListReply]):
    """Admin or Owner: accept or reject the pending join application of `applicant`."""

    user: str
    login_id: str
    applicant: str
    accept: bool


@dataclass(frozen=True, slots=True)
class UpdateJoinMode(Asks[j.GroupJoinModeReply]):
    """Admin or Owner: set the join mode (0 Any, 1 Auth, 2 Forbid)."""

    user: str
    login_id: str
    join_mode: int


@dataclass(frozen=True, slots=True)
class SetMemberAttributes(Asks[a.GroupMemberAttributesReply]):
    """Set and delete attributes of member `target`: one's own, or any member's as Admin or Owner."""

    user: str
    login_id: str
    target: str
    set_attributes: tuple[tuple[str, str], ...] = ()
    delete_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QueryMemberAttributes(Asks[a.QueryGroupMemberAttributesReply]):
    user: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueryGroupInfo(Asks[w.GroupInfoReply]):
    user: str


@dataclass(frozen=True, slots=True)
class QueryMembers(Asks[w.GroupMemberListReply]):
    user: str
    count: int
    next_flag: int


@dataclass(frozen=True, slots=True)
class SendGroupMessage(Asks[Message]):
    user: str
    login_id: str
    type: int
    body: TextOrBytes
    extended_data: str
    has_receipt: bool
    client_message_id: str | None


# ---- threads (PROTOCOL.md §15): a thread belongs to its group's actor ---------------


@dataclass(frozen=True, slots=True)
class CreateThread(Asks[t.ThreadReply]):
    """A member starts thread `thread_id` (a new ID) from group message `parent_message_id`."""

    user: str
    login_id: str
    thread_id: str
    parent_message_id: str
    name: str


@dataclass(frozen=True, slots=True)
class JoinThread(Asks[t.ThreadReply]):
    user: str
    login_id: str
    thread_id: str


@dataclass(frozen=True, slots=True)
class LeaveThread(Asks[t.ThreadReply]):
    user: str
    login_id: str
    thread_id: str


@dataclass(frozen=True, slots=True)
class RenameThread(Asks[t.ThreadReply]):
    """The thread's owner, or the group's Admin or Owner."""

    user: str
    login_id: str
    thread_id: str
    name: str


@dataclass(frozen=True, slots=True)
class DestroyThread(Asks[t.ThreadReply]):
    """The thread's owner, or the group's Admin or Owner."""

    user: str
    login_id: str
    thread_id: str


@dataclass(frozen=True, slots=True)
class KickThreadMembers(Asks[t.ThreadReply]):
    """The group's Admin or Owner removes `user_ids` from the thread."""

    user: str
    login_id: str
    thread_id: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SendThreadMessage(Asks[Message]):
    user: str
    login_id: str
    thread_id: str
    type: int
    body: TextOrBytes
    extended_data: str
    has_receipt: bool
    client_message_id: str | None


@dataclass(frozen=True, slots=True)
class QueryThreads(Asks[t.ThreadListReply]):
    user: str
    count: int
    next_flag: int


@dataclass(frozen=True, slots=True)
class QueryThread(Asks[t.ThreadReply]):
    user: str
    thread_id: str


@dataclass(frozen=True, slots=True)
class QueryThreadMembers(Asks[t.ThreadMemberListReply]):
    user: str
    thread_id: str
    count: int
    next_flag: int


ThreadMsg = (
    CreateThread | JoinThread | LeaveThread | RenameThread | DestroyThread | KickThreadMembers | SendThreadMessage
    | QueryThreads | QueryThread | QueryThreadMembers
)

GroupMsg = (
    CreateGroup | JoinGroup | LeaveGroup | InviteUsers | KickMembers | DismissGroup
    | SetRole | UpdateGroupInfo | AnswerApplication | UpdateJoinMode | SetMemberAttributes | QueryMemberAttributes
    | QueryGroupInfo | QueryMembers | SendGroupMessage | ThreadMsg
)
