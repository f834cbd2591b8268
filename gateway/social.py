"""Routes of profiles, friends and groups (PROTOCOL.md §8, §9)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, TypeVar

from actors import wire as p
from actors.account import messages as account
from actors.account.social import application_wire, friend_wire, profile_wire
from actors.group import messages as group
from actors.group.actor import GroupActor, GroupContext
from actors.runtime import Address, Asks
from actors.wire import messages as pm
from actors.wire import social as ps

from .router import Result, _identity

if TYPE_CHECKING:
    from .server import Gateway
    from .session import DeviceSession

R = TypeVar("R")


def install(gateway: Gateway) -> None:
    """Serve the §8/§9 ops and group sendMessage on `gateway`; add the group actor kind."""
    context = GroupContext(
        gateway.store, gateway.account_context.post_account,
        stats=gateway.account_context.stats, max_members=gateway.config.max_group_members,
    )
    gateway.registry.add_kind("group", lambda address: GroupActor(address, context))
    routes = _Routes(gateway)
    gateway.router.send_handlers[2] = routes.send_group
    gateway.router.add_routes(
        {
            ps.UpdateUserName: routes.update_user_name,
            ps.UpdateUserAvatarUrl: routes.update_avatar,
            ps.UpdateUserExtendedData: routes.update_extended_data,
            ps.QueryUsersInfo: routes.query_users,
            ps.AddFriend: routes.add_friend,
            ps.AcceptFriendApplication: routes.accept_friend,
            ps.RejectFriendApplication: routes.reject_friend,
            ps.DeleteFriends: routes.delete_friends,
            ps.QueryFriendList: routes.query_friends,
            ps.QueryFriendApplicationList: routes.query_applications,
            ps.CreateGroup: routes.create_group,
            ps.JoinGroup: routes.join_group,
            ps.LeaveGroup: routes.leave_group,
            ps.InviteUsersIntoGroup: routes.invite,
            ps.KickGroupMembers: routes.kick,
            ps.DismissGroup: routes.dismiss,
            ps.TransferGroupOwner: routes.transfer_owner,
            ps.SetGroupMemberRole: routes.set_role,
            ps.UpdateGroupName: routes.update_group_name,
            ps.UpdateGroupNotice: routes.update_group_notice,
            ps.SetGroupAttributes: routes.set_group_attributes,
            ps.DeleteGroupAttributes: routes.delete_group_attributes,
            ps.QueryGroupList: routes.query_group_list,
            ps.QueryGroupInfo: routes.query_group_info,
            ps.QueryGroupMemberList: routes.query_group_members,
        }
    )


class _Routes:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def _account(self, session: DeviceSession, msg: Asks[R]) -> R:
        user_id, _ = _identity(session)
        return await self.gateway.account(user_id).ask(msg, timeout=self.gateway.config.ask_timeout_s)

    async def _group(self, group_id: str, msg: Asks[R]) -> R:
        ref = self.gateway.registry.ref(Address("group", group_id))
        return await ref.ask(msg, timeout=self.gateway.config.ask_timeout_s)

    # ---- profiles -------------------------------------------------------------

    async def _profile(self, session: DeviceSession, **fields: str) -> Result:
        _, login_id = _identity(session)
        return ps.UserFullInfoReply(user_full_info=await self._account(session, account.UpdateProfile(login_id, **fields)))

    async def update_user_name(self, session: DeviceSession, req: ps.UpdateUserName) -> Result:
        return await self._profile(session, user_name=req.user_name)

    async def update_avatar(self, session: DeviceSession, req: ps.UpdateUserAvatarUrl) -> Result:
        return await self._profile(session, avatar_url=req.user_avatar_url)

    async def update_extended_data(self, session: DeviceSession, req: ps.UpdateUserExtendedData) -> Result:
        return await self._profile(session, extended_data=req.extended_data)

    async def query_users(self, session: DeviceSession, req: ps.QueryUsersInfo) -> Result:
        found = await self.gateway.store.profiles(list(dict.fromkeys(req.user_ids)))
        return ps.UserListReply(user_list=[profile_wire(u) for u in found])

    # ---- friends --------------------------------------------------------------

    async def add_friend(self, session: DeviceSession, req: ps.AddFriend) -> Result:
        _, login_id = _identity(session)
        return ps.FriendApplicationReply(application=await self._account(session, account.AddFriend(login_id, req.user_id, req.wording)))

    async def accept_friend(self, session: DeviceSession, req: ps.AcceptFriendApplication) -> Result:
        _, login_id = _identity(session)
        return ps.FriendApplicationReply(application=await self._account(session, account.AnswerFriend(login_id, req.user_id, True)))

    async def reject_friend(self, session: DeviceSession, req: ps.RejectFriendApplication) -> Result:
        _, login_id = _identity(session)
        return ps.FriendApplicationReply(application=await self._account(session, account.AnswerFriend(login_id, req.user_id, False)))

    async def delete_friends(self, session: DeviceSession, req: ps.DeleteFriends) -> Result:
        _, login_id = _identity(session)
        return await self._account(session, account.DeleteFriends(login_id, tuple(req.user_ids)))

    async def query_friends(self, session: DeviceSession, req: ps.QueryFriendList) -> Result:
        user_id, _ = _identity(session)
        found = await self.gateway.store.friends(user_id)
        return ps.FriendListReply(friend_list=[friend_wire(*row) for row in found])

    async def query_applications(self, session: DeviceSession, req: ps.QueryFriendApplicationList) -> Result:
        user_id, _ = _identity(session)
        found = await self.gateway.store.friend_applications(user_id)
        return ps.FriendApplicationListReply(application_list=[application_wire(*row) for row in found])

    # ---- groups ---------------------------------------------------------------

    async def send_group(self, session: DeviceSession, req: p.SendMessage) -> Result:
        user_id, login_id = _identity(session)
        body = req.message
        msg = group.SendGroupMessage(
            user_id, login_id, body.type, body.message, body.extended_data, req.config.has_receipt, req.client_message_id
        )
        return pm.MessageReply(message=await self._group(req.to_conversation_id, msg))

    async def create_group(self, session: DeviceSession, req: ps.CreateGroup) -> Result:
        user_id, login_id = _identity(session)
        group_id = req.group_info.group_id or f"g{secrets.token_hex(8)}"
        msg = group.CreateGroup(user_id, login_id, req.group_info.group_name, tuple(req.user_ids))
        return await self._group(group_id, msg)

    async def join_group(self, session: DeviceSession, req: ps.JoinGroup) -> Result:
        user_id, login_id = _identity(session)
        return await self._group(req.group_id, group.JoinGroup(user_id, login_id))

    async def leave_group(self, session: DeviceSession, req: ps.LeaveGroup) -> Result:
        user_id, login_id = _identity(session)
        return await self._group(req.group_id, group.LeaveGroup(user_id, login_id))

    async def invite(self, session: DeviceSession, req: ps.InviteUsersIntoGroup) -> Result:
        user_id, login_id = _identity(session)
        return await self._group(req.group_id, group.InviteUsers(user_id, login_id, tuple(req.user_ids)))

    async def kick(self, session: DeviceSession, req: ps.KickGroupMembers) -> Result:
        user_id, login_id = _identity(session)
        return await self._group(req.group_id, group.KickMembers(user_id, login_id, tuple(req.user_ids)))

    async def dismiss(self, session: DeviceSession, req: ps.DismissGroup) -> Result:
        user_id, login_id = _identity(session)
        return await self._group(req.group_id, group.DismissGroup(user_id, login_id))

    async def transfer_owner(self, session: DeviceSession, req: ps.TransferGroupOwner) -> Result:
        user_id, login_id = _identity(session)
        return await self._group(req.group_id, group.SetRole(user_id, login_id, req.to_user_id, 1))

    async def set_role(self, session: DeviceSession, req: ps.SetGroupMemberRole) -> Result:
        user_id, login_id = _identity(session)
        return await self._group(req.group_id, group.SetRole(user_id, login_id, req.user_id, req.role))

    async def _update(self, session: DeviceSession, group_id: str, **fields: Any) -> Result:
        user_id, login_id = _identity(session)
        return await self._group(group_id, group.UpdateGroupInfo(user_id, login_id, **fields))

    async def update_group_name(self, session: DeviceSession, req: ps.UpdateGroupName) -> Result:
        return await self._update(session, req.group_id, name=req.group_name)

    async def update_group_notice(self, session: DeviceSession, req: ps.UpdateGroupNotice) -> Result:
        return await self._update(session, req.group_id, notice=req.group_notice)

    async def set_group_attributes(self, session: DeviceSession, req: ps.SetGroupAttributes) -> Result:
        return await self._update(session, req.group_id, set_attributes=tuple(req.group_attributes.items()))

    async def delete_group_attributes(self, session: DeviceSession, req: ps.DeleteGroupAttributes) -> Result:
        return await self._update(session, req.group_id, delete_keys=tuple(req.keys))

    async def query_group_list(self, session: DeviceSession, req: ps.QueryGroupList) -> Result:
        user_id, _ = _identity(session)
        found = await self.gateway.store.user_groups(user_id)
        return ps.GroupListReply(
            group_list=[
                ps.GroupListEntry(group_id=g.group_id, group_name=g.name, group_notice=g.notice, member_role=role)
                for g, role in found
            ]
        )

    async def query_group_info(self, session: DeviceSession, req: ps.QueryGroupInfo) -> Result:
        user_id, _ = _identity(session)
        return await self._group(req.group_id, group.QueryGroupInfo(user_id))

    async def query_group_members(self, session: DeviceSession, req: ps.QueryGroupMemberList) -> Result:
        user_id, _ = _identity(session)
        msg = group.QueryMembers(user_id, req.config.count, req.config.next_flag)
        return await self._group(req.group_id, msg)
