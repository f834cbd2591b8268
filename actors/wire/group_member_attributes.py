"""Wire schema of group member attributes (PROTOCOL.md §16, Easemob's group member attributes).

Each member of a group has a small map of attributes: at most 16 keys,
keys 1–32 characters, values up to 256 (1003 beyond). A member sets its
own; an Admin or the Owner sets any member's (else 4003). Every change is a
durable `groupMemberAttributesUpdated` to every member's devices, carrying
the member's whole map after the change.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .base import ID, Body, DurableEvent, Reply, Request

MAX_MEMBER_ATTRIBUTES = 16
AttributeKey = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
AttributeValue = Annotated[str, msgspec.Meta(max_length=256)]


class GroupMemberAttributesInfo(Body, frozen=True):
    """One member's attributes."""

    user_id: str
    attributes: dict[str, str]


class GroupMemberAttributesReply(Reply, frozen=True):
    """The member's whole map after the change."""

    group_id: str
    user_id: str
    attributes: dict[str, str]


class QueryGroupMemberAttributesReply(Reply, frozen=True):
    """The attributes of each asked-for user that is a member (others are left out)."""

    infos: list[GroupMemberAttributesInfo]


class SetGroupMemberAttributes(Request, tag="setGroupMemberAttributes"):
    """Set (add or replace) attributes of member `userID`: one's own, or any member's as Admin or Owner."""

    reply = GroupMemberAttributesReply

    group_id: ID
    user_id: ID
    attributes: Annotated[dict[AttributeKey, AttributeValue], msgspec.Meta(min_length=1, max_length=MAX_MEMBER_ATTRIBUTES)]


class DeleteGroupMemberAttributes(Request, tag="deleteGroupMemberAttributes"):
    """Delete attributes of member `userID` by key (keys it does not have are ignored); rules as for set."""

    reply = GroupMemberAttributesReply

    group_id: ID
    user_id: ID
    keys: Annotated[list[AttributeKey], msgspec.Meta(min_length=1, max_length=MAX_MEMBER_ATTRIBUTES)]


class QueryGroupMemberAttributes(Request, tag="queryGroupMemberAttributes"):
    """Members only: the attributes of `userIDs`."""

    reply = QueryGroupMemberAttributesReply

    group_id: ID
    user_ids: Annotated[list[ID], msgspec.Meta(min_length=1, max_length=100)]


# ---- events (durable) ----------------------------------------------------------


class GroupMemberAttributesUpdated(DurableEvent, tag="groupMemberAttributesUpdated", frozen=True):
    """To every member's devices: member `userID`'s whole map after the change, and who made it."""

    group_id: str
    user_id: str
    attributes: dict[str, str]
    operated_by: str
