"""Routes of peer messaging, conversations and receipts to the account actor."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from actors import wire as p
from actors.account import conversations as conv
from actors.account import messages as account
from actors.account.messaging import group_receipt_infos
from actors.errors import InvalidArgument, MessageNotFound
from actors.runtime import Asks
from actors.wire import messages as pm

from .router import Result, _identity

if TYPE_CHECKING:
    from .server import Gateway
    from .session import DeviceSession

R = TypeVar("R")


def install(gateway: Gateway) -> None:
    """Serve the §6/§7 ops and peer sendMessage on `gateway`."""
    routes = _Routes(gateway)
    gateway.router.send_handlers[0] = routes.send_peer
    gateway.router.add_routes(
        {
            pm.QueryHistoryMessage: routes.query_history,
            pm.RevokeMessage: routes.revoke,
            pm.DeleteMessages: routes.delete_messages,
            pm.DeleteAllMessage: routes.delete_all_message,
            pm.DeleteAllConversationMessages: routes.delete_all_conversation_messages,
            pm.QueryConversationList: routes.query_conversation_list,
            pm.QueryConversation: routes.query_conversation,
            pm.DeleteConversation: routes.delete_conversation,
            pm.DeleteAllConversations: routes.delete_all_conversations,
            pm.ClearConversationUnreadMessageCount: routes.clear_unread,
            pm.ClearConversationTotalUnreadMessageCount: routes.clear_total_unread,
            pm.UpdateConversationPinnedState: routes.pin,
            pm.SetConversationNotificationStatus: routes.notification_status,
            pm.SetConversationDraft: routes.draft,
            pm.UpdateConversationMark: routes.mark,
            pm.SendMessageReceiptsRead: routes.receipts_read,
            pm.SendConversationMessageReceiptRead: routes.conversation_receipt_read,
            pm.QueryMessageReceiptsInfo: routes.query_receipts,
        }
    )


def _not_a_room(conversation_type: int) -> None:
    if conversation_type == 1:
        raise InvalidArgument("room messages are live only: rooms have no conversation or history")


class _Routes:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def _ask(self, session: DeviceSession, msg: Asks[R]) -> R:
        user_id, _ = _identity(session)
        return await self.gateway.account(user_id).ask(msg, timeout=self.gateway.config.ask_timeout_s)

    async def send_peer(self, session: DeviceSession, req: p.SendMessage) -> Result:
        _, login_id = _identity(session)
        body = req.message
        msg = account.SendPeer(
            login_id, req.to_conversation_id, body.type, body.message, body.extended_data,
            req.config.has_receipt, req.client_message_id, req.to_login_id,
        )
        return pm.MessageReply(message=await self._ask(session, msg))

    async def query_history(self, session: DeviceSession, req: pm.QueryHistoryMessage) -> Result:
        _not_a_room(req.conversation_type)
        user_id, _ = _identity(session)
        cfg = req.config
        found = await self.gateway.store.history(
            user_id, req.conversation_type, req.conversation_id, cfg.count, cfg.next_message_seq, cfg.reverse
        )
        return pm.MessageListReply(
            message_list=[conv.message_wire(v.message, v.conversation_id, v.message_seq, v.direction) for v in found]
        )

    async def revoke(self, session: DeviceSession, req: pm.RevokeMessage) -> Result:
        _not_a_room(req.conversation_type)
        _, login_id = _identity(session)
        msg = account.Revoke(login_id, req.conversation_type, req.conversation_id, req.message_id)
        return pm.MessageReply(message=await self._ask(session, msg))

    async def delete_messages(self, session: DeviceSession, req: pm.DeleteMessages) -> Result:
        _not_a_room(req.conversation_type)
        _, login_id = _identity(session)
        server = req.config.is_also_delete_server_message
        await self._ask(session, account.DeleteMessages(login_id, req.conversation_type, req.conversation_id, tuple(req.message_ids), server))
        return None

    async def delete_all_message(self, session: DeviceSession, req: pm.DeleteAllMessage) -> Result:
        _not_a_room(req.conversation_type)
        _, login_id = _identity(session)
        server = req.config.is_also_delete_server_message
        await self._ask(session, account.DeleteAllMessages(login_id, req.conversation_type, req.conversation_id, server))
        return None

    async def delete_all_conversation_messages(self, session: DeviceSession, req: pm.DeleteAllConversationMessages) -> Result:
        _, login_id = _identity(session)
        await self._ask(session, account.DeleteAllMessages(login_id, None, None, req.config.is_also_delete_server_message))
        return None

    async def query_conversation_list(self, session: DeviceSession, req: pm.QueryConversationList) -> Result:
        after = None
        if (nxt := req.config.next_conversation) is not None:
            after = (not nxt.is_pinned, -nxt.order_key, nxt.conversation_type, nxt.conversation_id)
        found = await self._ask(session, account.QueryConversations(req.config.count, after))
        return pm.ConversationListReply(conversation_list=found)

    async def query_conversation(self, session: DeviceSession, req: pm.QueryConversation) -> Result:
        found = await self._ask(session, account.QueryConversation(req.conversation_type, req.conversation_id))
        return pm.ConversationReply(conversation=found)

    async def delete_conversation(self, session: DeviceSession, req: pm.DeleteConversation) -> Result:
        _, login_id = _identity(session)
        await self._ask(session, account.DeleteConversation(login_id, req.conversation_type, req.conversation_id))
        return None

    async def delete_all_conversations(self, session: DeviceSession, req: pm.DeleteAllConversations) -> Result:
        _, login_id = _identity(session)
        count = await self._ask(session, account.DeleteConversation(login_id, None, None))
        return pm.CountReply(count=count)

    async def clear_unread(self, session: DeviceSession, req: pm.ClearConversationUnreadMessageCount) -> Result:
        _, login_id = _identity(session)
        await self._ask(session, account.ClearUnread(login_id, req.conversation_type, req.conversation_id))
        return None

    async def clear_total_unread(self, session: DeviceSession, req: pm.ClearConversationTotalUnreadMessageCount) -> Result:
        _, login_id = _identity(session)
        await self._ask(session, account.ClearUnread(login_id, None, None))
        return None

    async def pin(self, session: DeviceSession, req: pm.UpdateConversationPinnedState) -> Result:
        _, login_id = _identity(session)
        await self._ask(session, account.UpdateConversation(login_id, req.conversation_type, req.conversation_id, is_pinned=req.is_pinned))
        return None

    async def notification_status(self, session: DeviceSession, req: pm.SetConversationNotificationStatus) -> Result:
        _, login_id = _identity(session)
        msg = account.UpdateConversation(login_id, req.conversation_type, req.conversation_id, notification_status=req.status)
        await self._ask(session, msg)
        return None

    async def draft(self, session: DeviceSession, req: pm.SetConversationDraft) -> Result:
        _, login_id = _identity(session)
        await self._ask(session, account.UpdateConversation(login_id, req.conversation_type, req.conversation_id, draft=req.draft))
        return None

    async def mark(self, session: DeviceSession, req: pm.UpdateConversationMark) -> Result:
        _, login_id = _identity(session)
        msg = account.UpdateConversation(
            login_id, req.conversation_type, req.conversation_id, marks=tuple(req.marks), is_marked=req.is_marked
        )
        await self._ask(session, msg)
        return None

    async def receipts_read(self, session: DeviceSession, req: pm.SendMessageReceiptsRead) -> Result:
        _not_a_room(req.conversation_type)
        _, login_id = _identity(session)
        msg = account.ReadReceipts(login_id, req.conversation_type, req.conversation_id, tuple(req.message_ids))
        return pm.ReceiptInfosReply(infos=await self._ask(session, msg))

    async def conversation_receipt_read(self, session: DeviceSession, req: pm.SendConversationMessageReceiptRead) -> Result:
        _not_a_room(req.conversation_type)
        _, login_id = _identity(session)
        msg = account.ReadReceipts(login_id, req.conversation_type, req.conversation_id, None)
        return pm.ReceiptInfosReply(infos=await self._ask(session, msg))

    async def query_receipts(self, session: DeviceSession, req: pm.QueryMessageReceiptsInfo) -> Result:
        _not_a_room(req.conversation_type)
        user_id, _ = _identity(session)
        found = await self.gateway.store.viewed(user_id, req.conversation_type, req.conversation_id, req.message_ids)
        missing = set(req.message_ids) - {v.message.message_id for v in found}
        if missing:
            raise MessageNotFound(f"not in this conversation: {', '.join(sorted(missing)[:5])}")
        if req.conversation_type == 2:
            ids = [v.message.message_id for v in found]
            return pm.ReceiptInfosReply(
                infos=await group_receipt_infos(self.gateway.store, req.conversation_id, ids, self_operated=False)
            )
        infos = []
        for v in found:
            read = 1 if v.message.receipt_status == conv.RECEIPT_DONE else 0
            infos.append(
                conv.receipt_info(
                    v.conversation_id, v.message.conversation_type, v.message.message_id,
                    status=v.message.receipt_status, read=read, unread=1 - read,
                    self_operated=v.direction == conv.RECEIVE,
                )
            )
        return pm.ReceiptInfosReply(infos=infos)
