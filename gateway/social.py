"""The social feature: profiles, friends and groups (PROTOCOL.md §8, §9)."""

from __future__ import annotations

from typing import Any, TypeVar

from actors import wire as p
from actors.account import messages as account
from actors.account.social import application_wire, friend_wire, profile_wire
from actors.errors import InvalidArgument
from actors.group import messages as group
from actors.group.actor import GroupActor, GroupContext
from actors.runtime import Asks
from actors.wire import group_joining as pj
from actors.wire import messages as pm
from actors.wire import group_member_attributes as pa
from actors.wire import social as ps

from .identity import Identity
from .services import Feature, Handler, Result, Services, random_id

R = TypeVar("R")


class Social(Feature):
    """Profiles, friends and groups (§8, §9): ops to the account and group actors, group sendMessage."""

    def __init__(self, services: Services) -> None:
        self.services = services
        accounts = services.accounts
        context = GroupContext(
            services.store, accounts.post_account, stats=accounts.stats, max_members=services.config.max_group_members,
            max_threads=services.config.max_group_threads,
            webhooks=accounts.webhooks, post_deliveries=accounts.post_deliveries,
        )
        services.registry.add_kind("group", lambda address: GroupActor(address, context), claimed=True)

    def routes(self) -> dict[type[p.Request], Handler]:
        return {
            ps.UpdateUserName: self.update_user_name,
            ps.UpdateUserAvatarUrl: self.update_avatar,
            ps.UpdateUserExtendedData: self.update_extended_data,
            ps.QueryUsersInfo: self.query_users,
            ps.AddFriend: self.add_friend,
            ps.AcceptFriendApplication: self.accept_friend,
            ps.RejectFriendApplication: self.reject_friend,
            ps.DeleteFriends: self.delete_friends,
            ps.QueryFriendList: self.query_friends,
            ps.QueryFriendApplicationList: self.query_applications,
            ps.CreateGroup: self.create_group,
            ps.JoinGroup: self.join_group,
            ps.LeaveGroup: self.leave_group,
            ps.InviteUsersIntoGroup: self.invite,
            ps.KickGroupMembers: self.kick,
            ps.DismissGroup: self.dismiss,
            ps.TransferGroupOwner: self.transfer_owner,
            ps.SetGroupMemberRole: self.set_role,
            ps.UpdateGroupName: self.update_group_name,
            ps.UpdateGroupNotice: self.update_group_notice,
            ps.SetGroupAttributes: self.set_group_attributes,
            ps.DeleteGroupAttributes: self.delete_group_attributes,
            ps.QueryGroupList: self.query_group_list,
            ps.QueryGroupInfo: self.query_group_info,
            ps.QueryGroupMemberList: self.query_group_members,
            pj.AcceptGroupJoinApplication: self.accept_application,
            pj.RejectGroupJoinApplication: self.reject_application,
            pj.QueryGroupApplicationList: self.query_group_applications,
            pj.UpdateGroupJoinMode: self.update_join_mode,
            pa.SetGroupMemberAttributes: self.set_member_attributes,
            pa.DeleteGroupMemberAttributes: self.delete_member_attributes,
            pa.QueryGroupMemberAttributes: self.query_member_attributes,
        }

    def send_handlers(self) -> dict[int, Handler]:
        return {2: self.send_group}

    async def _account(self, identity: Identity, msg: Asks[R]) -> R:
        return await self.services.ask_account(identity, msg)

    async def _group(self, identity: Identity, group_id: str, msg: Asks[R]) -> R:
        return await self.services.ask_group(identity, group_id, msg)

    # ---- profiles -------------------------------------------------------------

    async def _profile(self, identity: Identity, **fields: str) -> Result:
        login_id = identity.login_id
        return ps.UserFullInfoReply(user_full_info=await self._account(identity, account.UpdateProfile(login_id, **fields)))

    async def update_user_name(self, identity: Identity, req: ps.UpdateUserName) -> Result:
        return await self._profile(identity, user_name=req.user_name)

    async def update_avatar(self, identity: Identity, req: ps.UpdateUserAvatarUrl) -> Result:
        return await self._profile(identity, avatar_url=req.user_avatar_url)

    async def update_extended_data(self, identity: Identity, req: ps.UpdateUserExtendedData) -> Result:
        return await self._profile(identity, extended_data=req.extended_data)

    async def query_users(self, identity: Identity, req: ps.QueryUsersInfo) -> Result:
        found = await self.services.store.profiles(list(dict.fromkeys(req.user_ids)))
        return ps.UserListReply(user_list=[profile_wire(u) for u in found])

    # ---- friends --------------------------------------------------------------

    async def add_friend(self, identity: Identity, req: ps.AddFriend) -> Result:
        login_id = identity.login_id
        return ps.FriendApplicationReply(application=await self._account(identity, account.AddFriend(login_id, req.user_id, req.wording)))

    async def accept_friend(self, identity: Identity, req: ps.AcceptFriendApplication) -> Result:
        login_id = identity.login_id
        return ps.FriendApplicationReply(application=await self._account(identity, account.AnswerFriend(login_id, req.user_id, True)))

    async def reject_friend(self, identity: Identity, req: ps.RejectFriendApplication) -> Result:
        login_id = identity.login_id
        return ps.FriendApplicationReply(application=await self._account(identity, account.AnswerFriend(login_id, req.user_id, False)))

    async def delete_friends(self, identity: Identity, req: ps.DeleteFriends) -> Result:
        login_id = identity.login_id
        return await self._account(identity, account.DeleteFriends(login_id, tuple(req.user_ids)))

    async def query_friends(self, identity: Identity, req: ps.QueryFriendList) -> Result:
        user_id = identity.user_id
        found = await self.services.store.friends(user_id)
        return ps.FriendListReply(friend_list=[friend_wire(*row) for row in found])

    async def query_applications(self, identity: Identity, req: ps.QueryFriendApplicationList) -> Result:
        user_id = identity.user_id
        found = await self.services.store.friend_applications(user_id)
        return ps.FriendApplicationListReply(application_list=[application_wire(*row) for row in found])

    # ---- groups ---------------------------------------------------------------

    async def send_group(self, identity: Identity, req: p.SendMessage) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        if req.to_login_id is not None:
            raise InvalidArgument("toLoginID is for messages to one's own devices, not groups")
        body = req.message
        msg = group.SendGroupMessage(
            user_id, login_id, body.type, body.message, body.extended_data, req.config.has_receipt, req.client_message_id
        )
        return pm.MessageReply(message=await self._group(identity, req.to_conversation_id, msg))

    async def create_group(self, identity: Identity, req: ps.CreateGroup) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        group_id = req.group_info.group_id or random_id("g")
        msg = group.CreateGroup(user_id, login_id, req.group_info.group_name, tuple(req.user_ids), req.group_info.join_mode)
        return await self._group(identity, group_id, msg)

    async def join_group(self, identity: Identity, req: ps.JoinGroup) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        return await self._group(identity, req.group_id, group.JoinGroup(user_id, login_id))

    async def leave_group(self, identity: Identity, req: ps.LeaveGroup) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        return await self._group(identity, req.group_id, group.LeaveGroup(user_id, login_id))

    async def invite(self, identity: Identity, req: ps.InviteUsersIntoGroup) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        return await self._group(identity, req.group_id, group.InviteUsers(user_id, login_id, tuple(req.user_ids)))

    async def kick(self, identity: Identity, req: ps.KickGroupMembers) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        return await self._group(identity, req.group_id, group.KickMembers(user_id, login_id, tuple(req.user_ids)))

    async def dismiss(self, identity: Identity, req: ps.DismissGroup) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        return await self._group(identity, req.group_id, group.DismissGroup(user_id, login_id))

    async def transfer_owner(self, identity: Identity, req: ps.TransferGroupOwner) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        return await self._group(identity, req.group_id, group.SetRole(user_id, login_id, req.to_user_id, 1))

    async def set_role(self, identity: Identity, req: ps.SetGroupMemberRole) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        return await self._group(identity, req.group_id, group.SetRole(user_id, login_id, req.user_id, req.role))

    async def _update(self, identity: Identity, group_id: str, **fields: Any) -> Result:
        user_id, login_id = identity.user_id, identity.login_id
        return await self._group(identity, group_id, group.UpdateGroupInfo(user_id, login_id, **fields))

    async def update_group_name(self, identity: Identity, req: ps.UpdateGroupName) -> Result:
        return await self._update(identity, req.group_id, name=req.group_name)

    async def update_group_notice(self, identity: Identity, req: ps.UpdateGroupNotice) -> Result:
        return await self._update(identity, req.group_id, notice=req.group_notice)

    async def set_group_attributes(self, identity: Identity, req: ps.SetGroupAttributes) -> Result:
        return await self._update(identity, req.group_id, set_attributes=tuple(req.group_attributes.items()))

    async def delete_group_attributes(self, identity: Identity, req: ps.DeleteGroupAttributes) -> Result:
        return await self._update(identity, req.group_id, delete_keys=tuple(req.keys))

    async def query_group_list(self, identity: Identity, req: ps.QueryGroupList) -> Result:
        user_id = identity.user_id
        found = await self.services.store.user_groups(user_id)
        return ps.GroupListReply(
            group_list=[
                ps.GroupListEntry(group_id=g.group_id, group_name=g.name, group_notice=g.notice, member_role=role)
                for g, role in found
            ]
        )

    async def query_group_info(self, identity: Identity, req: ps.QueryGroupInfo) -> Result:
        user_id = identity.user_id
        return await self._group(identity, req.group_id, group.QueryGroupInfo(user_id))

    async def query_group_members(self, identity: Identity, req: ps.QueryGroupMemberList) -> Result:
        user_id = identity.user_id
        msg = group.QueryMembers(user_id, req.config.count, req.config.next_flag)
        return await self._group(identity, req.group_id, msg)

    async def accept_application(self, identity: Identity, req: pj.AcceptGroupJoinApplication) -> Result:
        msg = group.AnswerApplication(identity.user_id, identity.login_id, req.user_id, True)
        return await self._group(identity, req.group_id, msg)

    async def reject_application(self, identity: Identity, req: pj.RejectGroupJoinApplication) -> Result:
        msg = group.AnswerApplication(identity.user_id, identity.login_id, req.user_id, False)
        return await self._group(identity, req.group_id, msg)

    async def query_group_applications(self, identity: Identity, req: pj.QueryGroupApplicationList) -> Result:
        found = await self.services.store.group_applications(identity.user_id)
        return pj.GroupApplicationListReply(
            application_list=[
                ps.GroupApplicationInfo(group_id=g, user_id=u, state=ps.APPLICATION_WAITING, create_time=t) for g, u, t in found
            ]
        )

    async def update_join_mode(self, identity: Identity, req: pj.UpdateGroupJoinMode) -> Result:
        msg = group.UpdateJoinMode(identity.user_id, identity.login_id, req.join_mode)
        return await self._group(identity, req.group_id, msg)

    async def set_member_attributes(self, identity: Identity, req: pa.SetGroupMemberAttributes) -> Result:
        attributes = tuple(req.attributes.items())
        msg = group.SetMemberAttributes(identity.user_id, identity.login_id, req.user_id, set_attributes=attributes)
        return await self._group(identity, req.group_id, msg)

    async def delete_member_attributes(self, identity: Identity, req: pa.DeleteGroupMemberAttributes) -> Result:
        msg = group.SetMemberAttributes(identity.user_id, identity.login_id, req.user_id, delete_keys=tuple(req.keys))
        return await self._group(identity, req.group_id, msg)

    async def query_member_attributes(self, identity: Identity, req: pa.QueryGroupMemberAttributes) -> Result:
        return await self._group(identity, req.group_id, group.QueryMemberAttributes(identity.user_id, tuple(req.user_ids)))
