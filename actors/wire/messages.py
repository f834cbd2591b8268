"""Wire schema of messages, conversations and receipts (PROTOCOL.md §6, §7).

`sendMessage` sends to a user, a room or a group (`conversationType` 0, 1, 2).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .base import ID, Body, Request, UInt


# Text or a CBOR byte string: msgspec cannot express `str | bytes`, so the schema is given here and
# the type is checked in MessageBody.__post_init__. JSON Schema spells bytes as base64 text.
TextOrBytes = Annotated[
    Any,
    msgspec.Meta(
        description="text, or a CBOR byte string",
        extra_json_schema={"anyOf": [{"type": "string"}, {"type": "string", "contentEncoding": "base64"}]},
    ),
]


class MessageBody(Body, frozen=True):
    type: Annotated[int, msgspec.Meta(ge=1, le=65535)]
    message: TextOrBytes
    extended_data: Annotated[str, msgspec.Meta(max_length=4096)] = ""

    def __post_init__(self) -> None:
        if not isinstance(self.message, str | bytes):
            raise TypeError("Expected `str` or `bytes` for `message.message`")


class SendConfig(Body, frozen=True):
    has_receipt: bool = False


class SendMessage(Request, tag="sendMessage"):
    """Send to a user (0), a room (1) or a group (2); to own devices when the target is oneself."""

    to_conversation_id: ID
    conversation_type: Literal[0, 1, 2]
    message: MessageBody
    config: SendConfig = SendConfig()
    client_message_id: ID | None = None
    to_login_id: ID | None = None


MAX_MESSAGE_BYTES = 32 * 1024


def message_size(body: MessageBody) -> int:
    """Bytes of a message body as the 32 KiB limit (error 6002) counts them."""
    text = body.message
    return len(text.encode()) if isinstance(text, str) else len(text)


ConversationType = Literal[0, 1, 2]
MessageIDs = Annotated[list[ID], msgspec.Meta(min_length=1, max_length=100)]


class DeleteConfig(Body, frozen=True):
    is_also_delete_server_message: bool = False


class ConversationDeleteConfig(Body, frozen=True):
    is_also_delete_server_conversation: bool = True


class HistoryConfig(Body, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    next_message_seq: UInt | None = None
    reverse: bool = False


class NextConversation(Body, frozen=True):
    conversation_id: ID
    conversation_type: ConversationType
    order_key: int = 0
    is_pinned: bool = False


class ConversationListConfig(Body, frozen=True):
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
