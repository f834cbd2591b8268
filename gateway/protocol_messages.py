"""Wire schema of messages, conversations and receipts (PROTOCOL.md §6, §7)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .protocol import ID, Request, UInt, _Body

ConversationType = Literal[0, 1, 2]
MessageIDs = Annotated[list[ID], msgspec.Meta(min_length=1, max_length=100)]


class DeleteConfig(_Body, frozen=True):
    is_also_delete_server_message: bool = False


class ConversationDeleteConfig(_Body, frozen=True):
    is_also_delete_server_conversation: bool = True


class HistoryConfig(_Body, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    next_message_seq: UInt | None = None
    reverse: bool = False


class NextConversation(_Body, frozen=True):
    conversation_id: ID
    conversation_type: ConversationType
    order_key: int = 0
    is_pinned: bool = False


class ConversationListConfig(_Body, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    next_conversation: NextConversation | None = None


class QueryHistoryMessage(Request, tag="queryHistoryMessage"):
    """A page of one conversation's history as this user sees it: newest first unless `reverse`."""

    conversation_id: ID
    conversation_type: ConversationType
    config: HistoryConfig = HistoryConfig()


class RevokeMessage(Request, tag="revokeMessage"):
    """Revoke one's own message; every party's devices get messageRevokeReceived."""

    conversation_id: ID
    conversation_type: ConversationType
    message_id: ID


class DeleteMessages(Request, tag="deleteMessages"):
    """Delete messages from this user's history (server) or just the device's view."""

    conversation_id: ID
    conversation_type: ConversationType
    message_ids: MessageIDs
    config: DeleteConfig = DeleteConfig()


class DeleteAllMessage(Request, tag="deleteAllMessage"):
    """Delete every message of one conversation for this user."""

    conversation_id: ID
    conversation_type: ConversationType
    config: DeleteConfig = DeleteConfig()


class DeleteAllConversationMessages(Request, tag="deleteAllConversationMessages"):
    """Delete every message of every conversation for this user."""

    config: DeleteConfig = DeleteConfig()


class QueryConversationList(Request, tag="queryConversationList"):
    """A page of conversations: pinned first, then by last message time."""

    config: ConversationListConfig = ConversationListConfig()


class QueryConversation(Request, tag="queryConversation"):
    """One conversation."""

    conversation_id: ID
    conversation_type: ConversationType


class DeleteConversation(Request, tag="deleteConversation"):
    """Remove a conversation from the list (messages stay in history)."""

    conversation_id: ID
    conversation_type: ConversationType
    config: ConversationDeleteConfig = ConversationDeleteConfig()


class DeleteAllConversations(Request, tag="deleteAllConversations"):
    """Remove every conversation from the list; replies with the count."""

    config: ConversationDeleteConfig = ConversationDeleteConfig()


class ClearConversationUnreadMessageCount(Request, tag="clearConversationUnreadMessageCount"):
    """Mark one conversation read."""

    conversation_id: ID
    conversation_type: ConversationType


class ClearConversationTotalUnreadMessageCount(Request, tag="clearConversationTotalUnreadMessageCount"):
    """Mark every conversation read."""


class UpdateConversationPinnedState(Request, tag="updateConversationPinnedState"):
    """Pin or unpin a conversation."""

    conversation_id: ID
    conversation_type: ConversationType
    is_pinned: bool


class SetConversationNotificationStatus(Request, tag="setConversationNotificationStatus"):
    """1 notify, 2 do not disturb."""

    conversation_id: ID
    conversation_type: ConversationType
    status: Literal[1, 2]


class SetConversationDraft(Request, tag="setConversationDraft"):
    """Save a draft on the conversation (synced to the other devices)."""

    conversation_id: ID
    conversation_type: ConversationType
    draft: Annotated[str, msgspec.Meta(max_length=4096)]


class UpdateConversationMark(Request, tag="updateConversationMark"):
    """Add (`isMarked`) or remove integer marks."""

    conversation_id: ID
    conversation_type: ConversationType
    marks: Annotated[list[Annotated[int, msgspec.Meta(ge=1, le=20)]], msgspec.Meta(min_length=1, max_length=20)]
    is_marked: bool


class SendMessageReceiptsRead(Request, tag="sendMessageReceiptsRead"):
    """Mark received messages read; the sender's devices get messageReceiptChanged."""

    conversation_id: ID
    conversation_type: ConversationType
    message_ids: MessageIDs


class SendConversationMessageReceiptRead(Request, tag="sendConversationMessageReceiptRead"):
    """Mark every received message of the conversation read."""

    conversation_id: ID
    conversation_type: ConversationType


class QueryMessageReceiptsInfo(Request, tag="queryMessageReceiptsInfo"):
    """Receipt status, read and unread member counts of messages."""

    conversation_id: ID
    conversation_type: ConversationType
    message_ids: MessageIDs


EVENTS: dict[str, str] = {
    "peerMessageReceived": (
        "messageList, fromConversationID: to every device of the receiver (direction 1) and the sender's other "
        "devices (direction 0). Durable."
    ),
    "conversationChanged": "infoList [{event: 0 added, 1 updated, 3 deleted, conversation}]. Durable.",
    "conversationTotalUnreadMessageCountUpdated": "totalUnreadMessageCount: whenever the account's total changes. Durable.",
    "conversationsAllDeleted": "count: deleteAllConversations on another device. Durable.",
    "messageRevokeReceived": "messageList: every party's devices. Durable.",
    "messageDeleted": (
        "conversationID?, conversationType?, messageDeleteType (0 list, 1 conversation, 2 all), "
        "isDeleteConversationAllMessage, messageList: own other devices, for server deletions. Durable."
    ),
    "messageReceiptChanged": "infos [{conversationID, conversationType, messageID, status, readMemberCount, unreadMemberCount, isSelfOperated}]. Durable.",
    "conversationMessageReceiptChanged": "infos [{conversationID, conversationType, readTime, isSelfOperated}]. Durable.",
}
