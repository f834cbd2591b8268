"""GroupActor: one group's members, roles, info and message order.

Every change is stored first, then told to each member's account actor as
durable events (AccountEvents), so members' devices see it live or on
resume. Group messages are stored once, with a pending delivery per member
in the same transaction; each member's account consumes its delivery.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, assert_never

from ..account import conversations as conv
from ..account.messages import AccountEvents, Deliver, events_blob
from ..hooks import MessageSent, WebhookQueue, hook_message
from ..errors import AlreadyExists, GroupNotExist, InvalidArgument, NoPermission, NotGroupMember
from ..ids import IDEMPOTENCY_WINDOW_MS, new_message_id
from ..runtime import Actor, Address, Asks, Reply, answer
from ..store.base import GroupRecord, GroupWrite, MessageRow, Store
from ..wire import AnyDurableEvent, ErrorUser, UserRef
from ..wire import group_joining as j
from ..wire import group_member_attributes as a
from ..wire import social as w
from ..wire.messages import Message
from . import rules
from .messages import (
    AnswerApplication,
    CreateGroup,
    DismissGroup,
    GroupMsg,
    InviteUsers,
    JoinGroup,
    KickMembers,
    LeaveGroup,
    QueryGroupInfo,
    QueryMemberAttributes,
    QueryMembers,
    SendGroupMessage,
    SetMemberAttributes,
    SetRole,
    UpdateGroupInfo,
    UpdateJoinMode,
)

log = logging.getLogger("hubbub.group")

T = TypeVar("T")

Event = AnyDurableEvent


@dataclass(slots=True)
class GroupContext:
    store: Store
    post_account: Callable[[str, object], Awaitable[None]]
    stats: Counter[str] = field(default_factory=Counter)
    max_members: int = 10_000  # a message fans out to every member: the size bounds its cost
    webhooks: WebhookQueue | None = None  # calls to the application backend (None: none configured)


def _now() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Step:
    """What handling one message changes: stored together when it ends."""

    before: GroupRecord | None
    record: GroupRecord | None = None
    upsert: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    notices: list[tuple[str, tuple[Event, ...], str | None]] = field(default_factory=list)
    add_applications: list[tuple[str, int]] = field(default_factory=list)
    remove_applications: list[str] = field(default_factory=list)
    bar: list[str] = field(default_factory=list)
    unbar: list[str] = field(default_factory=list)
    member_attributes: list[tuple[str, dict[str, str]]] = field(default_factory=list)


class GroupActor(Actor[GroupMsg]):
    """One group; its state is loaded from storage and written back on every change."""

    def __init__(self, address: Address, ctx: GroupContext) -> None:
        super().__init__(address)
        self.group_id = address.key
        self.ctx = ctx
        self.record: GroupRecord | None = None
        self._step = _Step(None)

    async def start(self) -> None:
        self.record = await self.ctx.store.load_group(self.group_id)

    async def handle(self, msg: GroupMsg, reply: Reply[Any] | None) -> None:
        self._step = _Step(self.record)
        try:
            answered = await self._serve(msg)
            await self._commit_step()
        except BaseException:
            self.record = self._step.before  # nothing of this step was stored
            raise
        finally:
            self._step = _Step(self.record)
        answered(reply)

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
            case _:
                assert_never(msg)

    # ---- membership -----------------------------------------------------------

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
        return w.KickMembersReply(kicked_user_ids=targets, error_user_list=[])

    async def _dismiss(self, msg: DismissGroup) -> w.GroupIDReply:
        record = self._group()
        if self._role_of(msg.user) != rules.OWNER:
            raise NoPermission("only the owner may dismiss the group")
        await self._save(replace(record, dismissed=True))
        log.info("group=%s dismissed by user=%s", self.group_id, msg.user)
        event = w.GroupStateChanged(rules.STATE_QUIT, rules.EVENT_DISMISSED, self._wire())
        await self._tell([event], record.members, msg)
        return w.GroupIDReply(group_id=self.group_id)

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

    # ---- messages -------------------------------------------------------------

    async def _send(self, msg: SendGroupMessage) -> Message:
        record = self._group()
        self._role_of(msg.user)
        if msg.client_message_id is not None:
            since = _now() - IDEMPOTENCY_WINDOW_MS
            earlier = await self.ctx.store.find_client_message(msg.user, msg.client_message_id, since)
            if earlier is not None:
                # the key is the user's (PROTOCOL.md §4), whichever conversation it was used in
                return await self._original(msg.user, earlier)
        seq = record.last_seq + 1
        message = MessageRow(
            new_message_id(), 2, msg.user, self.group_id, msg.type, msg.body, msg.extended_data, _now(),
            msg.client_message_id, msg.has_receipt, conv.RECEIPT_PROCESSING if msg.has_receipt else conv.RECEIPT_NONE,
        )
        record = replace(record, last_seq=seq)
        deliveries = [(member, message.message_id, msg.login_id if member == msg.user else None) for member in record.members]
        hooks = self.ctx.webhooks
        calls = [] if hooks is None else hooks.plan(msg.user, "messageSent", MessageSent(user_id=msg.user, message=hook_message(message)))
        try:
            await self.ctx.store.commit_group(GroupWrite(record, new_message=message, message_seq=seq, deliveries=deliveries, webhooks=calls))
        except Exception:  # not stored: the planned calls give their room back
            if hooks is not None:
                hooks.release(len(calls))
            raise
        if hooks is not None and calls:
            hooks.stored()
        self.record = record
        for member in record.members:
            exclude = msg.login_id if member == msg.user else None
            await self.ctx.post_account(member, Deliver(message, seq, exclude))
        self.ctx.stats["group_messages"] += 1
        self.ctx.stats["group_deliveries"] += len(deliveries)
        return conv.message_wire(message, self.group_id, seq, conv.SEND)

    async def _original(self, user: str, earlier: MessageRow) -> Message:
        """A message `user` sent before, as its reply showed it.

        The sender's own delivery of a group message may still be pending
        (its account consumes it after this actor replied), so its messageSeq
        comes from the pending delivery, else from the sender's view.
        """
        pending = await self.ctx.store.pending_deliveries(user)
        seq = next(
            (p.group_seq for p in pending if p.message is not None and p.message.message_id == earlier.message_id), None
        )
        if seq is None:
            view = await self.ctx.store.view_of(user, earlier.message_id)
            seq = 0 if view is None else view.message_seq
        return conv.message_wire(earlier, earlier.target, seq, conv.SEND)

    # ---- helpers --------------------------------------------------------------

    def _group(self) -> GroupRecord:
        if self.record is None or self.record.dismissed:
            raise GroupNotExist(f"no group {self.group_id!r}")
        return self.record

    def _role_of(self, user: str) -> int:
        found = self._group().members.get(user)
        if found is None:
            raise NotGroupMember("not a member of this group")
        return found[0]

    def _require_room_for(self, size: int) -> None:
        if size > self.ctx.max_members:
            raise InvalidArgument(f"a group has at most {self.ctx.max_members} members; this would make {size}")

    def _managers(self) -> list[str]:
        """The Owner and the Admins: who answers join applications."""
        return [u for u, (role, _) in self._group().members.items() if rules.can_manage(role)]

    def _require_manager(self, user: str) -> int:
        role = self._role_of(user)
        if not rules.can_manage(role):
            raise NoPermission("only the owner or an admin may do this")
        return role

    async def _save(
        self,
        record: GroupRecord,
        *,
        upsert: Iterable[str] = (),
        remove: Iterable[str] = (),
        add_applications: Iterable[tuple[str, int]] = (),
        remove_applications: Iterable[str] = (),
        bar: Iterable[str] = (),
        unbar: Iterable[str] = (),
    ) -> None:
        """Make `record` this step's new state; it is stored, with the step's notices, when the step ends."""
        step = self._step
        removed = set(remove)
        if removed & record.member_attributes.keys():  # the attributes go with the membership's row
            record = replace(record, member_attributes={u: m for u, m in record.member_attributes.items() if u not in removed})
        step.record = record
        step.upsert.extend(upsert)
        step.remove.extend(removed)
        step.add_applications.extend(add_applications)
        step.remove_applications.extend(remove_applications)
        step.bar.extend(bar)
        step.unbar.extend(unbar)
        self.record = record

    async def _commit_step(self) -> None:
        """Store the step's changes and its members' events in one transaction, then tell the members.

        The events wait in the outbox until each member's account takes
        them, so a crash after the commit loses none of them.
        """
        step = self._step
        if step.record is None:
            return
        record = step.record
        rows = [(u, *record.members[u]) for u in dict.fromkeys(step.upsert) if u in record.members]
        queued = [(user, events_blob(events), exclude) for user, events, exclude in step.notices]
        write = GroupWrite(
            record, upsert_members=rows, remove_members=list(step.remove), member_events=queued,
            add_applications=step.add_applications, remove_applications=step.remove_applications, bar=step.bar, unbar=step.unbar,
            member_attributes=step.member_attributes,
        )
        ids = await self.ctx.store.commit_group(write)
        for (user, events, exclude), outbox_id in zip(step.notices, ids, strict=True):
            await self.ctx.post_account(user, AccountEvents(events, exclude, outbox_id))

    def _wire(self) -> w.GroupInfo:
        record = self.record
        assert record is not None
        owner = next((u for u, (role, _) in record.members.items() if role == rules.OWNER), None)
        return w.GroupInfo(
            group_id=record.group_id,
            group_name=record.name,
            group_notice=record.notice,
            group_attributes=dict(record.attributes),
            owner_user_id=owner,
            member_count=len(record.members),
            created_time=record.created_time,
            join_mode=record.join_mode,
        )

    def _member_wires(self, users: Iterable[str]) -> list[w.GroupMember]:
        members = self.record.members if self.record is not None else {}
        return [w.GroupMember(user_id=u, member_role=members[u][0], join_time=members[u][1]) for u in users if u in members]

    async def _member_change(self, audience: Iterable[str], users: dict[str, int], state: int, event: int, msg: Any) -> None:
        """Tell `audience` that `users` (userID -> role they have or had) entered or left."""
        wires = [w.GroupMemberRole(user_id=u, member_role=role) for u, role in users.items()]
        changed = w.GroupMemberStateChanged(self.group_id, state, event, wires, UserRef(user_id=msg.user))
        await self._tell([changed], audience, msg)

    async def _tell(self, events: list[Event], users: Iterable[str], msg: Any) -> None:
        """Durable events for each user's account, sent when the step is stored; the acting device is left out (it has the reply)."""
        if events:
            self._step.notices.extend((user, tuple(events), msg.login_id if user == msg.user else None) for user in users)


def _answer_with(msg: Asks[T], value: T) -> Callable[[Reply[Any] | None], None]:
    """Answer `msg` with `value` later (once the step is stored), typed by what `msg` asks for."""
    return lambda reply: answer(reply, msg, value)
