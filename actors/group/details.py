"""Group roles, info and member attributes (PROTOCOL.md §9, §16), and the member queries."""

from __future__ import annotations

from dataclasses import replace

from ..errors import InvalidArgument, NoPermission, NotGroupMember
from ..wire import UserRef
from ..wire import group_member_attributes as a
from ..wire import social as w
from . import rules
from .core import Event, GroupCore
from .messages import QueryMemberAttributes, QueryMembers, SetMemberAttributes, SetRole, UpdateGroupInfo


class GroupDetails(GroupCore):
    """Roles, name, notice, attributes, member attributes, and the queries of members."""

    async def _set_role(self, msg: SetRole) -> w.GroupMemberRolesReply:
        record = self._group()
        if self._role_of(msg.user) != rules.OWNER:
            raise NoPermission("only the owner may change roles")
        if msg.target == msg.user:
            raise InvalidArgument("the owner's own role changes only by transferring ownership")
        target_joined = record.members.get(msg.target)
        if target_joined is None:
            raise NotGroupMember(f"{msg.target!r} is not a member of this group")
        changed = {msg.target: (msg.role, target_joined[1])}
        if msg.role == rules.OWNER:
            changed[msg.user] = (rules.MEMBER, record.members[msg.user][1])
        await self._save(replace(record, members={**record.members, **changed}), upsert=changed.keys())
        infos = [w.GroupMemberRole(user_id=u, member_role=role) for u, (role, _) in changed.items()]
        event = w.GroupMemberInfoUpdated(self.group_id, infos, UserRef(user_id=msg.user))
        await self._tell([event], record.members, msg)
        return w.GroupMemberRolesReply(group_id=self.group_id, user_info=infos)

    async def _update_info(self, msg: UpdateGroupInfo) -> w.GroupInfoReply:
        record = self._group()
        self._require_manager(msg.user)
        operated = UserRef(user_id=msg.user)
        events: list[Event] = []
        if msg.name is not None:
            record = replace(record, name=msg.name)
            events.append(w.GroupNameUpdated(self.group_id, msg.name, operated))
        if msg.notice is not None:
            record = replace(record, notice=msg.notice)
            events.append(w.GroupNoticeUpdated(self.group_id, msg.notice, operated))
        if msg.set_attributes or msg.delete_keys:
            attributes = {**record.attributes, **dict(msg.set_attributes)}
            for key in msg.delete_keys:
                attributes.pop(key, None)
            if len(attributes) > 100:
                raise InvalidArgument("a group has at most 100 attributes")
            record = replace(record, attributes=attributes)
            infos = []
            if msg.set_attributes:
                infos.append(w.GroupAttributesChange(action=0, group_attributes=dict(msg.set_attributes)))
            if msg.delete_keys:
                infos.append(w.GroupAttributesChange(action=1, group_attributes=dict.fromkeys(msg.delete_keys, "")))
            events.append(w.GroupAttributesUpdated(self.group_id, infos, operated))
        await self._save(record)
        await self._tell(events, record.members, msg)
        return w.GroupInfoReply(group_info=self._wire())

    # ---- member attributes (PROTOCOL.md §16) -------------------------------------

    async def _set_member_attributes(self, msg: SetMemberAttributes) -> a.GroupMemberAttributesReply:
        record = self._group()
        role = self._role_of(msg.user)
        if msg.target not in record.members:
            raise NotGroupMember(f"{msg.target!r} is not a member of this group")
        if msg.target != msg.user and not rules.can_manage(role):
            raise NoPermission("only the owner or an admin may change another member's attributes")
        attributes = {**record.member_attributes.get(msg.target, {}), **dict(msg.set_attributes)}
        for key in msg.delete_keys:
            attributes.pop(key, None)
        if len(attributes) > a.MAX_MEMBER_ATTRIBUTES:
            raise InvalidArgument(f"a member has at most {a.MAX_MEMBER_ATTRIBUTES} attributes; this would make {len(attributes)}")
        others = {u: m for u, m in record.member_attributes.items() if u != msg.target}
        await self._save(replace(record, member_attributes={**others, msg.target: attributes} if attributes else others))
        self._step.member_attributes.append((msg.target, attributes))
        event = a.GroupMemberAttributesUpdated(self.group_id, msg.target, attributes, msg.user)
        await self._tell([event], record.members, msg)
        return a.GroupMemberAttributesReply(group_id=self.group_id, user_id=msg.target, attributes=attributes)

    def _query_member_attributes(self, msg: QueryMemberAttributes) -> a.QueryGroupMemberAttributesReply:
        record = self._group()
        self._role_of(msg.user)
        return a.QueryGroupMemberAttributesReply(
            infos=[
                a.GroupMemberAttributesInfo(user_id=u, attributes=record.member_attributes.get(u, {}))
                for u in dict.fromkeys(msg.user_ids)
                if u in record.members
            ]
        )

    def _query_members(self, msg: QueryMembers) -> w.GroupMemberListReply:
        record = self._group()
        self._role_of(msg.user)
        ordered = sorted(record.members.items(), key=lambda item: (item[1][0], item[1][1], item[0]))
        page = ordered[msg.next_flag : msg.next_flag + msg.count]
        following = msg.next_flag + len(page)
        return w.GroupMemberListReply(
            group_id=self.group_id,
            user_list=self._member_wires(u for u, _ in page),
            next_flag=following if following < len(ordered) else 0,
        )

