"""Group membership (PROTOCOL.md §9): create, join (by mode, or by application), leave, invite, kick, dismiss."""

from __future__ import annotations

import logging
from dataclasses import replace

from ..errors import AlreadyExists, InvalidArgument, NoPermission, NotGroupMember
from ..store.base import GroupRecord
from ..wire import ErrorUser, UserRef
from ..wire import group_joining as j
from ..wire import social as w
from . import rules
from .core import GroupCore, _now
from .messages import AnswerApplication, CreateGroup, DismissGroup, InviteUsers, JoinGroup, KickMembers, LeaveGroup, UpdateJoinMode

log = logging.getLogger("hubbub.group")


class Membership(GroupCore):
    """Who is in the group, and how they got in or out."""

    async def _create(self, msg: CreateGroup) -> w.CreateGroupReply:
        if self.record is not None:
            raise AlreadyExists(f"group {self.group_id!r} already exists")
        now = _now()
        members = {msg.user: (rules.OWNER, now)}
        members.update({u: (rules.MEMBER, now) for u in msg.member_ids if u != msg.user})
        self._require_room_for(len(members))
        record = GroupRecord(self.group_id, msg.name, "", {}, now, 0, members, join_mode=msg.join_mode)
        await self._save(record, upsert=members.keys())
        log.info("group=%s created by user=%s members=%d", self.group_id, msg.user, len(members))
        event = w.GroupStateChanged(rules.STATE_ENTER, rules.EVENT_CREATED, self._wire())
        await self._tell([event], members, msg)
        return w.CreateGroupReply(group_info=self._wire(), user_list=self._member_wires(members), error_user_list=[])

    async def _join(self, msg: JoinGroup) -> w.JoinGroupReply:
        record = self._group()
        if msg.user in record.members:
            raise AlreadyExists("already a member of this group")
        if msg.user in record.barred:
            raise NoPermission("kicked out of this group: only an invitation lets you back in")
        if record.join_mode == rules.JOIN_FORBID:
            raise NoPermission("this group takes members by invitation only")
        if record.join_mode == rules.JOIN_AUTH:
            return await self._apply(msg, record)
        self._require_room_for(len(record.members) + 1)
        others = list(record.members)
        await self._save(replace(record, members={**record.members, msg.user: (rules.MEMBER, _now())}), upsert=[msg.user])
        await self._member_change(others, {msg.user: rules.MEMBER}, rules.STATE_ENTER, rules.MEMBER_JOINED, msg)
        own = w.GroupStateChanged(rules.STATE_ENTER, rules.EVENT_JOINED, self._wire())
        await self._tell([own], [msg.user], msg)
        return w.JoinGroupReply(group_info=self._wire())

    async def _apply(self, msg: JoinGroup, record: GroupRecord) -> w.JoinGroupReply:
        """A joinGroup in Auth mode: a pending application, shown to the managers and the applicant."""
        if msg.user in record.applications:
            raise AlreadyExists("already applied to join this group")
        now = _now()
        await self._save(replace(record, applications={**record.applications, msg.user: now}), add_applications=[(msg.user, now)])
        info = w.GroupApplicationInfo(group_id=self.group_id, user_id=msg.user, state=w.APPLICATION_WAITING, create_time=now)
        await self._tell([j.GroupApplicationListChanged(j.APPLICATION_ADDED, [info])], [*self._managers(), msg.user], msg)
        return w.JoinGroupReply(group_info=self._wire(), application=info)

    async def _answer_application(self, msg: AnswerApplication) -> j.GroupApplicationListReply:
        record = self._group()
        self._require_manager(msg.user)
        applied = record.applications.get(msg.applicant)
        if applied is None:
            raise InvalidArgument(f"no pending application from {msg.applicant!r} to this group")
        managers = self._managers()
        applications = {u: t for u, t in record.applications.items() if u != msg.applicant}
        if msg.accept:
            self._require_room_for(len(record.members) + 1)
            others = list(record.members)
            members = {**record.members, msg.applicant: (rules.MEMBER, _now())}
            admitted = replace(record, members=members, applications=applications, barred=record.barred - {msg.applicant})
            await self._save(admitted, upsert=[msg.applicant], remove_applications=[msg.applicant], unbar=[msg.applicant])
            await self._member_change(others, {msg.applicant: rules.MEMBER}, rules.STATE_ENTER, rules.MEMBER_JOINED, msg)
            joined = w.GroupStateChanged(rules.STATE_ENTER, rules.EVENT_JOINED, self._wire())
            await self._tell([joined], [msg.applicant], msg)
        else:
            await self._save(replace(record, applications=applications), remove_applications=[msg.applicant])
        state = w.APPLICATION_ACCEPTED if msg.accept else w.APPLICATION_REJECTED
        info = w.GroupApplicationInfo(
            group_id=self.group_id, user_id=msg.applicant, state=state, create_time=applied, operated_by=UserRef(user_id=msg.user)
        )
        await self._tell([j.GroupApplicationListChanged(j.APPLICATION_REMOVED, [info])], [*managers, msg.applicant], msg)
        return j.GroupApplicationListReply(application_list=[info])

    async def _update_join_mode(self, msg: UpdateJoinMode) -> j.GroupJoinModeReply:
        record = self._group()
        self._require_manager(msg.user)
        await self._save(replace(record, join_mode=msg.join_mode))
        event = j.GroupJoinModeUpdated(self.group_id, msg.join_mode, UserRef(user_id=msg.user))
        await self._tell([event], record.members, msg)
        return j.GroupJoinModeReply(group_id=self.group_id, join_mode=msg.join_mode)

    async def _leave(self, msg: LeaveGroup) -> w.GroupIDReply:
        record = self._group()
        role = self._role_of(msg.user)
        if role == rules.OWNER and len(record.members) > 1:
            raise NoPermission("the owner must transfer ownership or dismiss the group before leaving")
        members = {u: r for u, r in record.members.items() if u != msg.user}
        await self._save(replace(record, members=members, dismissed=not members), remove=[msg.user])
        await self._member_change(members, {msg.user: role}, rules.STATE_QUIT, rules.MEMBER_LEFT, msg)
        own = w.GroupStateChanged(rules.STATE_QUIT, rules.EVENT_LEFT, self._wire())
        await self._tell([own], [msg.user], msg)
        await self._leave_threads([msg.user], kicked=False, msg=msg)
        if not members:  # the last member left: the group is gone, and with it its threads (none has a member now)
            for thread in list(record.threads.values()):
                await self._drop_thread(thread, msg, ())
        return w.GroupIDReply(group_id=self.group_id)

    async def _invite(self, msg: InviteUsers) -> w.InviteUsersReply:
        record = self._group()
        self._require_manager(msg.user)
        added = [u for u in dict.fromkeys(msg.user_ids) if u not in record.members]
        already = [u for u in msg.user_ids if u in record.members]
        self._require_room_for(len(record.members) + len(added))
        now = _now()
        others = list(record.members)
        members = {**record.members, **{u: (rules.MEMBER, now) for u in added}}
        answered = [u for u in added if u in record.applications]
        applications = {u: t for u, t in record.applications.items() if u not in answered}
        invited_record = replace(record, members=members, applications=applications, barred=record.barred - set(added))
        await self._save(invited_record, upsert=added, remove_applications=answered, unbar=[u for u in added if u in record.barred])
        if answered:  # an invitation answers the invitee's pending application
            operated = UserRef(user_id=msg.user)
            infos = [
                w.GroupApplicationInfo(
                    group_id=self.group_id, user_id=u, state=w.APPLICATION_ACCEPTED, create_time=record.applications[u], operated_by=operated
                )
                for u in answered
            ]
            await self._tell([j.GroupApplicationListChanged(j.APPLICATION_REMOVED, infos)], [*self._managers(), *answered], msg)
        if added:
            await self._member_change(others, dict.fromkeys(added, rules.MEMBER), rules.STATE_ENTER, rules.MEMBER_INVITED, msg)
            invited = w.GroupStateChanged(rules.STATE_ENTER, rules.EVENT_INVITED, self._wire())
            await self._tell([invited], added, msg)
        errors = [ErrorUser(user_id=u, reason=AlreadyExists.code) for u in already]
        return w.InviteUsersReply(user_list=self._member_wires(added), error_user_list=errors)

    async def _kick(self, msg: KickMembers) -> w.KickMembersReply:
        record = self._group()
        actor_role = self._require_manager(msg.user)
        targets = list(dict.fromkeys(msg.user_ids))
        for target in targets:
            if target not in record.members:
                raise NotGroupMember(f"{target!r} is not a member of this group")
            if target == msg.user or not rules.can_kick(actor_role, record.members[target][0]):
                raise NoPermission(f"your role may not kick {target!r}")
        members = {u: r for u, r in record.members.items() if u not in targets}
        await self._save(replace(record, members=members, barred=record.barred | set(targets)), remove=targets, bar=targets)
        roles = {t: record.members[t][0] for t in targets}
        await self._member_change(members, roles, rules.STATE_QUIT, rules.MEMBER_KICKED_OUT, msg)
        kicked = w.GroupStateChanged(rules.STATE_QUIT, rules.EVENT_KICKED_OUT, self._wire())
        await self._tell([kicked], targets, msg)
        await self._leave_threads(targets, kicked=True, msg=msg)
        return w.KickMembersReply(kicked_user_ids=targets, error_user_list=[])

    async def _dismiss(self, msg: DismissGroup) -> w.GroupIDReply:
        record = self._group()
        if self._role_of(msg.user) != rules.OWNER:
            raise NoPermission("only the owner may dismiss the group")
        # Dismissing the group destroys its threads. Each thread's members (and the acting user's
        # other devices) hear of it; telling every group member of every thread would cost
        # threads x members events, and the group's end tells them all that its threads are gone.
        for thread in list(record.threads.values()):
            await self._drop_thread(thread, msg, dict.fromkeys([*thread.members, msg.user]))
        await self._save(replace(self._group(), dismissed=True))
        log.info("group=%s dismissed by user=%s", self.group_id, msg.user)
        event = w.GroupStateChanged(rules.STATE_QUIT, rules.EVENT_DISMISSED, self._wire())
        await self._tell([event], record.members, msg)
        return w.GroupIDReply(group_id=self.group_id)
