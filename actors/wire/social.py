"""Wire schema of users, friends and groups (PROTOCOL.md §8, §9)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .base import ID, Body, DurableEvent, ErrorUser, Reply, Request, StoredUInt, UserRef
from .messages import Message

UserIDs = Annotated[list[ID], msgspec.Meta(min_length=1, max_length=100)]
Name = Annotated[str, msgspec.Meta(max_length=256)]
AttributeKey = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
AttributeValue = Annotated[str, msgspec.Meta(max_length=1024)]


# ---- objects of events and replies -------------------------------------------


class UserBaseInfo(Body, frozen=True):
    user_id: str
    user_name: str


class UserFullInfo(Body, frozen=True):
    """A user's profile."""

    base_info: UserBaseInfo
    user_avatar_url: str
    extended_data: str


class FriendInfo(Body, frozen=True):
    """A friend; `createTime` is when the friendship began (0 in a deletion)."""

    user_id: str
    wording: str
    create_time: int


class FriendApplication(Body, frozen=True):
    """A friend application: `state` 0 waiting, 1 accepted, 2 rejected."""

    apply_user: UserRef
    to_user: UserRef
    wording: str
    state: int
    update_time: int


class GroupInfo(Body, frozen=True):
    group_id: str
    group_name: str
    group_notice: str
    group_attributes: dict[str, str]
    owner_user_id: str | None  # null once the group is dismissed
    member_count: int
    created_time: int
    join_mode: int = 0


class GroupMember(Body, frozen=True):
    """`memberRole`: 1 Owner, 2 Admin, 3 Member."""

    user_id: str
    member_role: int
    join_time: int


class GroupMemberRole(Body, frozen=True):
    user_id: str
    member_role: int


class GroupListEntry(Body, frozen=True):
    """One of the caller's groups, with the caller's role in it."""

    group_id: str
    group_name: str
    group_notice: str
    member_role: int


class GroupAttributesChange(Body, frozen=True):
    """`action` 0 set, 1 deleted (deleted keys map to "")."""

    action: int
    group_attributes: dict[str, str]


class UserFullInfoReply(Reply, frozen=True):
    user_full_info: UserFullInfo


class UserListReply(Reply, frozen=True):
    """Profiles of the users asked for; unknown users are left out."""

    user_list: list[UserFullInfo]


class FriendApplicationReply(Reply, frozen=True):
    application: FriendApplication


class DeleteFriendsReply(Reply, frozen=True):
    deleted_user_ids: list[str]
    error_user_list: list[ErrorUser]


class FriendListReply(Reply, frozen=True):
    friend_list: list[FriendInfo]


class FriendApplicationListReply(Reply, frozen=True):
    application_list: list[FriendApplication]


class CreateGroupReply(Reply, frozen=True):
    group_info: GroupInfo
    user_list: list[GroupMember]
    error_user_list: list[ErrorUser]


class GroupInfoReply(Reply, frozen=True):
    group_info: GroupInfo


JoinMode = Literal[0, 1, 2]  # Any, Auth, Forbid (PROTOCOL.md §9, "Joining"; see group_joining.py)

# ZIM's group application states
APPLICATION_WAITING, APPLICATION_ACCEPTED, APPLICATION_REJECTED = 1, 2, 3


class GroupApplicationInfo(Body, frozen=True):
    """One join application: `state` 1 waiting, 2 accepted, 3 rejected; `operatedBy` who answered it."""

    group_id: str
    user_id: str  # the applicant
    state: int
    create_time: int
    operated_by: UserRef | None = None


class JoinGroupReply(GroupInfoReply, frozen=True):
    """`application` is set when the join became an application (Auth mode): the caller is not a member yet."""

    application: GroupApplicationInfo | None = None


class GroupIDReply(Reply, frozen=True):
    group_id: str


class InviteUsersReply(Reply, frozen=True):
    """`errorUserList`: users already in the group (reason 4004)."""

    user_list: list[GroupMember]
    error_user_list: list[ErrorUser]


class KickMembersReply(Reply, frozen=True):
    kicked_user_ids: list[str]
    error_user_list: list[ErrorUser]


class GroupMemberRolesReply(Reply, frozen=True):
    group_id: str
    user_info: list[GroupMemberRole]


class GroupMemberListReply(Reply, frozen=True):
    """`nextFlag` 0 means the last page."""

    group_id: str
    user_list: list[GroupMember]
    next_flag: int


class GroupListReply(Reply, frozen=True):
    group_list: list[GroupListEntry]


# ---- §8 users and friends ---------------------------------------------------


class UpdateUserName(Request, tag="updateUserName"):
    """Change one's name; own other devices get userInfoUpdated."""

    reply = UserFullInfoReply

    user_name: Name


class UpdateUserAvatarUrl(Request, tag="updateUserAvatarUrl"):
    """Change one's avatar URL; own other devices get userInfoUpdated."""

    reply = UserFullInfoReply

    user_avatar_url: Annotated[str, msgspec.Meta(max_length=2048)]


class UpdateUserExtendedData(Request, tag="updateUserExtendedData"):
    """Change one's extended data; own other devices get userInfoUpdated."""

    reply = UserFullInfoReply

    extended_data: Annotated[str, msgspec.Meta(max_length=4096)]


class QueryUsersInfo(Request, tag="queryUsersInfo"):
    """Profiles of users (unknown users are left out)."""

    reply = UserListReply

    user_ids: UserIDs


class AddFriend(Request, tag="addFriend"):
    """Send a friend application; 4004 if already friends."""

    reply = FriendApplicationReply

    user_id: ID
    wording: Annotated[str, msgspec.Meta(max_length=512)] = ""


class AcceptFriendApplication(Request, tag="acceptFriendApplication"):
    """Accept the application `userID` sent; both become friends."""

    reply = FriendApplicationReply

    user_id: ID


class RejectFriendApplication(Request, tag="rejectFriendApplication"):
    """Reject the application `userID` sent."""

    reply = FriendApplicationReply

    user_id: ID


class DeleteFriends(Request, tag="deleteFriends"):
    """Remove friends on both sides."""

    reply = DeleteFriendsReply

    user_ids: UserIDs


class QueryFriendList(Request, tag="queryFriendList"):
    """Every friend of the caller."""

    reply = FriendListReply


class QueryFriendApplicationList(Request, tag="queryFriendApplicationList"):
    """Friend applications sent or received by the caller (added)."""

    reply = FriendApplicationListReply


# ---- §9 groups --------------------------------------------------------------


class GroupInfoInput(Body, frozen=True):
    group_name: Name = ""
    group_id: ID | None = None
    join_mode: JoinMode = 0


class CreateGroup(Request, tag="createGroup"):
    """Create a group; the caller becomes its Owner, `userIDs` its Members."""

    reply = CreateGroupReply

    group_info: GroupInfoInput
    user_ids: Annotated[list[ID], msgspec.Meta(max_length=500)] = []


class JoinGroup(Request, tag="joinGroup"):
    """Join a group as a Member (Any mode), or apply to join (Auth mode); 4003 in Forbid mode or after a kick."""

    reply = JoinGroupReply

    group_id: ID


class LeaveGroup(Request, tag="leaveGroup"):
    """Leave a group (the Owner must transfer or dismiss first)."""

    reply = GroupIDReply

    group_id: ID


class InviteUsersIntoGroup(Request, tag="inviteUsersIntoGroup"):
    """Admin or Owner: add users as Members."""

    reply = InviteUsersReply

    group_id: ID
    user_ids: UserIDs


class KickGroupMembers(Request, tag="kickGroupMembers"):
    """Admin or Owner: remove members; they get groupStateChanged event 6."""

    reply = KickMembersReply

    group_id: ID
    user_ids: UserIDs


class DismissGroup(Request, tag="dismissGroup"):
    """Owner only: end the group for everyone."""

    reply = GroupIDReply

    group_id: ID


class TransferGroupOwner(Request, tag="transferGroupOwner"):
    """Owner only: make another member the Owner (the caller becomes a Member)."""

    reply = GroupMemberRolesReply

    group_id: ID
    to_user_id: ID


class SetGroupMemberRole(Request, tag="setGroupMemberRole"):
    """Owner only: make a member an Admin (2) or a Member (3)."""

    reply = GroupMemberRolesReply

    group_id: ID
    user_id: ID
    role: Literal[2, 3]


class UpdateGroupName(Request, tag="updateGroupName"):
    """Admin or Owner."""

    reply = GroupInfoReply

    group_id: ID
    group_name: Name


class UpdateGroupNotice(Request, tag="updateGroupNotice"):
    """Admin or Owner."""

    reply = GroupInfoReply

    group_id: ID
    group_notice: Annotated[str, msgspec.Meta(max_length=4096)]


class SetGroupAttributes(Request, tag="setGroupAttributes"):
    """Admin or Owner: set text attributes (at most 100 per group)."""

    reply = GroupInfoReply

    group_id: ID
    group_attributes: Annotated[dict[AttributeKey, AttributeValue], msgspec.Meta(min_length=1, max_length=100)]


class DeleteGroupAttributes(Request, tag="deleteGroupAttributes"):
    """Admin or Owner: delete attributes by key."""

    reply = GroupInfoReply

    group_id: ID
    keys: Annotated[list[AttributeKey], msgspec.Meta(min_length=1, max_length=100)]


class QueryGroupList(Request, tag="queryGroupList"):
    """The caller's groups with the caller's role in each."""

    reply = GroupListReply


class QueryGroupInfo(Request, tag="queryGroupInfo"):
    """Members only."""

    reply = GroupInfoReply

    group_id: ID


class GroupMemberListConfig(Body, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 100
    next_flag: StoredUInt = 0


class QueryGroupMemberList(Request, tag="queryGroupMemberList"):
    """Members only: a page of members, Owner and Admins first; nextFlag 0 means the end."""

    reply = GroupMemberListReply

    group_id: ID
    config: GroupMemberListConfig = GroupMemberListConfig()


# ---- events (all durable) ------------------------------------------------------


class UserInfoUpdated(DurableEvent, tag="userInfoUpdated", frozen=True):
    """The profile changed, to own other devices."""

    info: UserFullInfo


class FriendApplicationListChanged(DurableEvent, tag="friendApplicationListChanged", frozen=True):
    """`action` 0 added, 1 changed; to both users' devices."""

    action: int
    application_list: list[FriendApplication]


class FriendListChanged(DurableEvent, tag="friendListChanged", frozen=True):
    """`action` 0 added, 1 deleted; to both users' devices."""

    action: int
    friend_info_list: list[FriendInfo]


class GroupStateChanged(DurableEvent, tag="groupStateChanged", frozen=True):
    """`state` 0 quit, 1 enter; `event` 1 created, 2 dismissed, 3 joined, 4 invited, 5 left, 6 kicked out."""

    state: int
    event: int
    group_info: GroupInfo


class GroupMemberStateChanged(DurableEvent, tag="groupMemberStateChanged", frozen=True):
    """`event` 1 joined, 2 left, 4 kicked out, 5 invited."""

    group_id: str
    state: int
    event: int
    user_list: list[GroupMemberRole]
    operated_info: UserRef


class GroupMemberInfoUpdated(DurableEvent, tag="groupMemberInfoUpdated", frozen=True):
    """Members' roles changed."""

    group_id: str
    user_info: list[GroupMemberRole]
    operated_info: UserRef


class GroupNameUpdated(DurableEvent, tag="groupNameUpdated", frozen=True):
    group_id: str
    group_name: str
    operated_info: UserRef


class GroupNoticeUpdated(DurableEvent, tag="groupNoticeUpdated", frozen=True):
    group_id: str
    group_notice: str
    operated_info: UserRef


class GroupAttributesUpdated(DurableEvent, tag="groupAttributesUpdated", frozen=True):
    group_id: str
    infos: list[GroupAttributesChange]
    operated_info: UserRef


class GroupMessageReceived(DurableEvent, tag="groupMessageReceived", frozen=True):
    """To every member device but the sending one; `fromConversationID` is the groupID."""

    message_list: list[Message]
    from_conversation_id: str
