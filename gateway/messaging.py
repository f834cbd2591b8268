"""The messaging feature: peer messages, conversations and receipts, served by the account actor."""

from __future__ import annotations

from typing import TypeVar

from actors import wire as p
from actors.account import conversations as conv
from actors.account import messages as account
from actors.account.messaging import SHARED, group_receipt_infos
from actors.errors import InvalidArgument, MessageNotFound
from actors.runtime import Asks
from actors.wire import messages as pm

from .identity import Identity
from .services import Feature, Handler, Result, Services

R = TypeVar("R")


def _not_a_room(conversation_type: int) -> None:
    if conversation_type == 1:
        raise InvalidArgument("room messages are live only: rooms have no conversation or history")


class Messaging(Feature):
    """Peer messaging, conversations and receipts (§6, §7): ops to the account actor, peer sendMessage."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def routes(self) -> dict[type[p.Request], Handler]:
        return {
            pm.QueryHistoryMessage: self.query_history,
            pm.RevokeMessage: self.revoke,
            pm.DeleteMessages: self.delete_messages,
            pm.DeleteAllMessage: self.delete_all_message,
            pm.DeleteAllConversationMessages: self.delete_all_conversation_messages,
            pm.QueryConversationList: self.query_conversation_list,
            pm.QueryConversation: self.query_conversation,
            pm.DeleteConversation: self.delete_conversation,
            pm.DeleteAllConversations: self.delete_all_conversations,
            pm.ClearConversationUnreadMessageCount: self.clear_unread,
            pm.ClearConversationTotalUnreadMessageCount: self.clear_total_unread,
            pm.UpdateConversationPinnedState: self.pin,
            pm.SetConversationNotificationStatus: self.notification_status,
            pm.SetConversationDraft: self.draft,
            pm.UpdateConversationMark: self.mark,
            pm.SendMessageReceiptsRead: self.receipts_read,
            pm.SendConversationMessageReceiptRead: self.conversation_receipt_read,
            pm.QueryMessageReceiptsInfo: self.query_receipts,
        }

    def send_handlers(self) -> dict[int, Handler]:
        return {0: self.send_peer}

    async def _ask(self, identity: Identity, msg: Asks[R]) -> R:
        return await self.services.ask_account(identity, msg)

    async def send_peer(self, identity: Identity, req: p.SendMessage) -> Result:
        login_id = identity.login_id
        body = req.message
        msg = account.SendPeer(
            login_id, req.to_conversation_id, body.type, body.message, body.extended_data,
            req.config.has_receipt, req.client_message_id, req.to_login_id,
        )
        return pm.MessageReply(message=await self._ask(identity, msg))

    async def query_history(self, identity: Identity, req: pm.QueryHistoryMessage) -> Result:
        _not_a_room(req.conversation_type)
        user_id = identity.user_id
        cfg = req.config
        found = await self.services.store.history(
            user_id, req.conversation_type, req.conversation_id, cfg.count, cfg.next_message_seq, cfg.reverse
        )
        return pm.MessageListReply(
            message_list=[conv.message_wire(v.message, v.conversation_id, v.message_seq, v.direction) for v in found]
        )

    async def revoke(self, identity: Identity, req: pm.RevokeMessage) -> Result:
        _not_a_room(req.conversation_type)
        login_id = identity.login_id
        msg = account.Revoke(login_id, req.conversation_type, req.conversation_id, req.message_id)
        return pm.MessageReply(message=await self._ask(identity, msg))

    async def delete_messages(self, identity: Identity, req: pm.DeleteMessages) -> Result:
        _not_a_room(req.conversation_type)
        login_id = identity.login_id
        server = req.config.is_also_delete_server_message
        await self._ask(identity, account.DeleteMessages(login_id, req.conversation_type, req.conversation_id, tuple(req.message_ids), server))
        return None

    async def delete_all_message(self, identity: Identity, req: pm.DeleteAllMessage) -> Result:
        _not_a_room(req.conversation_type)
        login_id = identity.login_id
        server = req.config.is_also_delete_server_message
        await self._ask(identity, account.DeleteAllMessages(login_id, req.conversation_type, req.conversation_id, server))
        return None

    async def delete_all_conversation_messages(self, identity: Identity, req: pm.DeleteAllConversationMessages) -> Result:
        login_id = identity.login_id
        await self._ask(identity, account.DeleteAllMessages(login_id, None, None, req.config.is_also_delete_server_message))
        return None

    async def query_conversation_list(self, identity: Identity, req: pm.QueryConversationList) -> Result:
        after = None
        if (nxt := req.config.next_conversation) is not None:
            after = (not nxt.is_pinned, -nxt.order_key, nxt.conversation_type, nxt.conversation_id)
        found = await self._ask(identity, account.QueryConversations(req.config.count, after))
        return pm.ConversationListReply(conversation_list=found)

    async def query_conversation(self, identity: Identity, req: pm.QueryConversation) -> Result:
        found = await self._ask(identity, account.QueryConversation(req.conversation_type, req.conversation_id))
        return pm.ConversationReply(conversation=found)

    async def delete_conversation(self, identity: Identity, req: pm.DeleteConversation) -> Result:
        login_id = identity.login_id
        await self._ask(identity, account.DeleteConversation(login_id, req.conversation_type, req.conversation_id))
        return None

    async def delete_all_conversations(self, identity: Identity, req: pm.DeleteAllConversations) -> Result:
        login_id = identity.login_id
        count = await self._ask(identity, account.DeleteConversation(login_id, None, None))
        return pm.CountReply(count=count)

    async def clear_unread(self, identity: Identity, req: pm.ClearConversationUnreadMessageCount) -> Result:
        login_id = identity.login_id
        await self._ask(identity, account.ClearUnread(login_id, req.conversation_type, req.conversation_id))
        return None

    async def clear_total_unread(self, identity: Identity, req: pm.ClearConversationTotalUnreadMessageCount) -> Result:
        login_id = identity.login_id
        await self._ask(identity, account.ClearUnread(login_id, None, None))
        return None

    async def pin(self, identity: Identity, req: pm.UpdateConversationPinnedState) -> Result:
        login_id = identity.login_id
        await self._ask(identity, account.UpdateConversation(login_id, req.conversation_type, req.conversation_id, is_pinned=req.is_pinned))
        return None

    async def notification_status(self, identity: Identity, req: pm.SetConversationNotificationStatus) -> Result:
        login_id = identity.login_id
        msg = account.UpdateConversation(login_id, req.conversation_type, req.conversation_id, notification_status=req.status)
        await self._ask(identity, msg)
        return None

    async def draft(self, identity: Identity, req: pm.SetConversationDraft) -> Result:
        login_id = identity.login_id
        await self._ask(identity, account.UpdateConversation(login_id, req.conversation_type, req.conversation_id, draft=req.draft))
        return None

    async def mark(self, identity: Identity, req: pm.UpdateConversationMark) -> Result:
        login_id = identity.login_id
        msg = account.UpdateConversation(
            login_id, req.conversation_type, req.conversation_id, marks=tuple(req.marks), is_marked=req.is_marked
        )
        await self._ask(identity, msg)
        return None

    async def receipts_read(self, identity: Identity, req: pm.SendMessageReceiptsRead) -> Result:
        _not_a_room(req.conversation_type)
        login_id = identity.login_id
        msg = account.ReadReceipts(login_id, req.conversation_type, req.conversation_id, tuple(req.message_ids))
        return pm.ReceiptInfosReply(infos=await self._ask(identity, msg))

    async def conversation_receipt_read(self, identity: Identity, req: pm.SendConversationMessageReceiptRead) -> Result:
        _not_a_room(req.conversation_type)
        login_id = identity.login_id
        msg = account.ReadReceipts(login_id, req.conversation_type, req.conversation_id, None)
        return pm.ReceiptInfosReply(infos=await self._ask(identity, msg))

    async def query_receipts(self, identity: Identity, req: pm.QueryMessageReceiptsInfo) -> Result:
        _not_a_room(req.conversation_type)
        user_id = identity.user_id
        found = await self.services.store.viewed(user_id, req.conversation_type, req.conversation_id, req.message_ids)
        missing = set(req.message_ids) - {v.message.message_id for v in found}
        if missing:
            raise MessageNotFound(f"not in this conversation: {', '.join(sorted(missing)[:5])}")
        if req.conversation_type in SHARED:
            ids = [v.message.message_id for v in found]
            infos = await group_receipt_infos(
                self.services.store, req.conversation_id, ids, self_operated=False, conversation_type=req.conversation_type
            )
            return pm.ReceiptInfosReply(infos=infos)
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
