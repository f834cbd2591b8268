"""The threads feature (PROTOCOL.md §15): thread ops and thread sendMessage, served by the thread's group actor.

A thread's ops name it by threadID alone; the store says which group it
belongs to (a thread never moves), and that group's actor serves it.
"""

from __future__ import annotations

from typing import TypeVar

from actors import wire as p
from actors.errors import InvalidArgument, ThreadNotExist
from actors.group import messages as group
from actors.group.views import thread_wire
from actors.runtime import Asks
from actors.wire import messages as pm
from actors.wire import threads as pt

from .identity import Identity
from .services import Feature, Handler, Result, Services, random_id

R = TypeVar("R")


class Threads(Feature):
    """Thread ops to the group actor that owns the thread; queryJoinedThreadList from the store."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def routes(self) -> dict[type[p.Request], Handler]:
        return {
            pt.CreateThread: self.create,
            pt.JoinThread: self.join,
            pt.LeaveThread: self.leave,
            pt.UpdateThreadName: self.rename,
            pt.DestroyThread: self.destroy,
            pt.KickThreadMembers: self.kick,
            pt.QueryThreadList: self.query_list,
            pt.QueryThreadInfo: self.query_info,
            pt.QueryThreadMemberList: self.query_members,
            pt.QueryJoinedThreadList: self.query_joined,
        }

    def send_handlers(self) -> dict[int, Handler]:
        return {3: self.send}

    async def _group_of(self, thread_id: str) -> str:
        group_id = await self.services.store.thread_group(thread_id)
        if group_id is None:
            raise ThreadNotExist(f"no thread {thread_id!r}")
        return group_id

    async def _thread(self, identity: Identity, thread_id: str, msg: Asks[R]) -> R:
        return await self.services.ask_group(identity, await self._group_of(thread_id), msg)

    async def send(self, identity: Identity, req: p.SendMessage) -> Result:
        if req.to_login_id is not None:
            raise InvalidArgument("toLoginID is for messages to one's own devices, not threads")
        body = req.message
        msg = group.SendThreadMessage(
            identity.user_id, identity.login_id, req.to_conversation_id, body.type, body.message, body.extended_data,
            req.config.has_receipt, req.client_message_id,
        )
        return pm.MessageReply(message=await self._thread(identity, req.to_conversation_id, msg))

    async def create(self, identity: Identity, req: pt.CreateThread) -> Result:
        msg = group.CreateThread(identity.user_id, identity.login_id, random_id("t"), req.parent_message_id, req.thread_name)
        return await self.services.ask_group(identity, req.group_id, msg)

    async def join(self, identity: Identity, req: pt.JoinThread) -> Result:
        return await self._thread(identity, req.thread_id, group.JoinThread(identity.user_id, identity.login_id, req.thread_id))

    async def leave(self, identity: Identity, req: pt.LeaveThread) -> Result:
        return await self._thread(identity, req.thread_id, group.LeaveThread(identity.user_id, identity.login_id, req.thread_id))

    async def rename(self, identity: Identity, req: pt.UpdateThreadName) -> Result:
        msg = group.RenameThread(identity.user_id, identity.login_id, req.thread_id, req.thread_name)
        return await self._thread(identity, req.thread_id, msg)

    async def destroy(self, identity: Identity, req: pt.DestroyThread) -> Result:
        return await self._thread(identity, req.thread_id, group.DestroyThread(identity.user_id, identity.login_id, req.thread_id))

    async def kick(self, identity: Identity, req: pt.KickThreadMembers) -> Result:
        msg = group.KickThreadMembers(identity.user_id, identity.login_id, req.thread_id, tuple(req.user_ids))
        return await self._thread(identity, req.thread_id, msg)

    async def query_list(self, identity: Identity, req: pt.QueryThreadList) -> Result:
        msg = group.QueryThreads(identity.user_id, req.config.count, req.config.next_flag)
        return await self.services.ask_group(identity, req.group_id, msg)

    async def query_info(self, identity: Identity, req: pt.QueryThreadInfo) -> Result:
        return await self._thread(identity, req.thread_id, group.QueryThread(identity.user_id, req.thread_id))

    async def query_members(self, identity: Identity, req: pt.QueryThreadMemberList) -> Result:
        msg = group.QueryThreadMembers(identity.user_id, req.thread_id, req.config.count, req.config.next_flag)
        return await self._thread(identity, req.thread_id, msg)

    async def query_joined(self, identity: Identity, req: pt.QueryJoinedThreadList) -> Result:
        cfg = req.config
        found, more = await self.services.store.joined_threads(identity.user_id, cfg.count, cfg.next_flag)
        return pt.ThreadListReply(
            thread_list=[thread_wire(thread, identity.user_id) for thread in found], next_flag=cfg.next_flag + len(found) if more else 0
        )
