"""Wire schema of users, friends and groups (PROTOCOL.md §8, §9)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .base import ID, Request, UInt, Body

UserIDs = Annotated[list[ID], msgspec.Meta(min_length=1, max_length=100)]
Name = Annotated[str, msgspec.Meta(max_length=256)]
AttributeKey = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
AttributeValue = Annotated[str, msgspec.Meta(max_length=1024)]


# ---- §8 users and friends ---------------------------------------------------


class UpdateUserName(Request, tag="updateUserName"):
    """Change one's name; own other devices get userInfoUpdated."""

    user_name: Name


class UpdateUserAvatarUrl(Request, tag="updateUserAvatarUrl"):
    """Change one's avatar URL; own other devices get userInfoUpdated."""

    user_avatar_url: Annotated[str, msgspec.Meta(max_length=2048)]


class UpdateUserExtendedData(Request, tag="updateUserExtendedData"):
    """Change one's extended data; own other devices get userInfoUpdated."""

    extended_data: Annotated[str, msgspec.Meta(max_length=4096)]


class QueryUsersInfo(Request, tag="queryUsersInfo"):
    """Profiles of users (unknown users are left out)."""

    user_ids: UserIDs


class AddFriend(Request, tag="addFriend"):
    """Send a friend application; 4004 if already friends."""

    user_id: ID
    wording: Annotated[str, msgspec.Meta(max_length=512)] = ""


class AcceptFriendApplication(Request, tag="acceptFriendApplication"):
    """Accept the application `userID` sent; both become friends."""

    user_id: ID


class RejectFriendApplication(Request, tag="rejectFriendApplication"):
    """Reject the application `userID` sent."""

    user_id: ID


class DeleteFriends(Request, tag="deleteFriends"):
    """Remove friends on both sides."""

    user_ids: UserIDs


class QueryFriendList(Request, tag="queryFriendList"):
    """Every friend of the caller."""


class QueryFriendApplicationList(Request, tag="queryFriendApplicationList"):
    """Friend applications sent or received by the caller (added)."""


# ---- §9 groups --------------------------------------------------------------


class GroupInfoInput(Body, frozen=True):
    group_name: Name = ""
    group_id: ID | None = None


class CreateGroup(Request, tag="createGroup"):
    """Create a group; the caller becomes its Owner, `userIDs` its Members."""

    group_info: GroupInfoInput
    user_ids: Annotated[list[ID], msgspec.Meta(max_length=500)] = []


class JoinGroup(Request, tag="joinGroup"):
    """Join a group as a Member."""

    group_id: ID


class LeaveGroup(Request, tag="leaveGroup"):
    """Leave a group (the Owner must transfer or dismiss first)."""

    group_id: ID


class InviteUsersIntoGroup(Request, tag="inviteUsersIntoGroup"):
    """Admin or Owner: add users as Members."""

    group_id: ID
    user_ids: UserIDs


class KickGroupMembers(Request, tag="kickGroupMembers"):
    """Admin or Owner: remove members; they get groupStateChanged event 6."""

    group_id: ID
    user_ids: UserIDs


class DismissGroup(Request, tag="dismissGroup"):
    """Owner only: end the group for everyone."""

    group_id: ID


class TransferGroupOwner(Request, tag="transferGroupOwner"):
    """Owner only: make another member the Owner (the caller becomes a Member)."""

    group_id: ID
    to_user_id: ID


class SetGroupMemberRole(Request, tag="setGroupMemberRole"):
    """Owner only: make a member an Admin (2) or a Member (3)."""

    group_id: ID
    user_id: ID
    role: Literal[2, 3]


class UpdateGroupName(Request, tag="updateGroupName"):
    """Admin or Owner."""

    group_id: ID
    group_name: Name


class UpdateGroupNotice(Request, tag="updateGroupNotice"):
    """Admin or Owner."""

    group_id: ID
    group_notice: Annotated[str, msgspec.Meta(max_length=4096)]


class SetGroupAttributes(Request, tag="setGroupAttributes"):
    """Admin or Owner: set text attributes (at most 100 per group)."""

    group_id: ID
    group_attributes: Annotated[dict[AttributeKey, AttributeValue], msgspec.Meta(min_length=1, max_length=100)]


class DeleteGroupAttributes(Request, tag="deleteGroupAttributes"):
    """Admin or Owner: delete attributes by key."""

    group_id: ID
    keys: Annotated[list[AttributeKey], msgspec.Meta(min_length=1, max_length=100)]


class QueryGroupList(Request, tag="queryGroupList"):
    """The caller's groups with the caller's role in each."""


class QueryGroupInfo(Request, tag="queryGroupInfo"):
    """Members only."""

    group_id: ID


class GroupMemberListConfig(Body, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 100
    next_flag: UInt = 0


class QueryGroupMemberList(Request, tag="queryGroupMemberList"):
    """Members only: a page of members, Owner and Admins first; nextFlag 0 means the end."""

    group_id: ID
    config: GroupMemberListConfig = GroupMemberListConfig()


EVENTS: dict[str, str] = {
    "userInfoUpdated": "info {baseInfo {userID, userName}, userAvatarUrl, extendedData}: own other devices. Durable.",
    "friendApplicationListChanged": "action (0 added, 1 changed), applicationList: both users' devices. Durable.",
    "friendListChanged": "action (0 added, 1 deleted), friendInfoList: both users' devices. Durable.",
    "groupStateChanged": "state (0 quit, 1 enter), event (1 created, 2 dismissed, 3 joined, 4 invited, 5 left, 6 kicked out), groupInfo. Durable.",
    "groupMemberStateChanged": "groupID, state, event (1 joined, 2 left, 4 kicked out, 5 invited), userList, operatedInfo. Durable.",
    "groupMemberInfoUpdated": "groupID, userInfo [{userID, memberRole}], operatedInfo. Durable.",
    "groupNameUpdated": "groupID, groupName, operatedInfo. Durable.",
    "groupNoticeUpdated": "groupID, groupNotice, operatedInfo. Durable.",
    "groupAttributesUpdated": "groupID, infos [{action (0 set, 1 deleted), groupAttributes}], operatedInfo. Durable.",
    "groupMessageReceived": "messageList, fromConversationID (the groupID): every member device but the sending one. Durable.",
}
