"""Wire schema of group join modes and join applications (PROTOCOL.md §9, "Joining").

A group's `joinMode` is 0 Any (anyone may joinGroup), 1 Auth (a joinGroup
becomes an application that an Admin or the Owner accepts or rejects) or
2 Forbid (joinGroup gives 4003; members arrive only by invitation). A user
kicked out of a group may not rejoin it by joinGroup (4003) in any mode
until invited or accepted again.
"""

from __future__ import annotations

from .base import ID, DurableEvent, Reply, Request, UserRef
from .social import GroupApplicationInfo, JoinMode

# groupApplicationListChanged actions
APPLICATION_ADDED, APPLICATION_REMOVED = 0, 1


class GroupApplicationListReply(Reply, frozen=True):
    """The pending applications the caller made, and those to groups the caller is Admin or Owner of."""

    application_list: list[GroupApplicationInfo]


class GroupJoinModeReply(Reply, frozen=True):
    group_id: str
    join_mode: int


class AcceptGroupJoinApplication(Request, tag="acceptGroupJoinApplication"):
    """Admin or Owner: let the applicant `userID` in as a Member."""

    reply = GroupApplicationListReply

    group_id: ID
    user_id: ID


class RejectGroupJoinApplication(Request, tag="rejectGroupJoinApplication"):
    """Admin or Owner: turn the applicant `userID` away."""

    reply = GroupApplicationListReply

    group_id: ID
    user_id: ID


class QueryGroupApplicationList(Request, tag="queryGroupApplicationList"):
    """The pending applications the caller made or may answer, oldest first."""

    reply = GroupApplicationListReply


class UpdateGroupJoinMode(Request, tag="updateGroupJoinMode"):
    """Admin or Owner: set the group's join mode."""

    reply = GroupJoinModeReply

    group_id: ID
    join_mode: JoinMode


# ---- events (all durable) ------------------------------------------------------


class GroupApplicationListChanged(DurableEvent, tag="groupApplicationListChanged", frozen=True):
    """To the Admins' and the Owner's devices and the applicant's: `action` 0 added, 1 removed (answered)."""

    action: int
    application_list: list[GroupApplicationInfo]


class GroupJoinModeUpdated(DurableEvent, tag="groupJoinModeUpdated", frozen=True):
    """To every member's devices."""

    group_id: str
    join_mode: int
    operated_info: UserRef
