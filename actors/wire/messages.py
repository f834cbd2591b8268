"""Wire schema of messages, conversations and receipts (PROTOCOL.md §6, §7).

`sendMessage` sends to a user, a room, a group or a thread (`conversationType` 0, 1, 2, 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from .base import ID, Body, DurableEvent, Reply, Request, StoredInt, StoredUInt


# Text or a CBOR byte string. msgspec cannot express `str | bytes` (one str-like type per union), so
# at run time the field is Any with its schema given here, and MessageBody.__post_init__ checks it;
# type checkers see `str | bytes`. JSON Schema spells bytes as base64 text.
if TYPE_CHECKING:
    TextOrBytes = str | bytes
else:
    TextOrBytes = Annotated[
        Any,
        msgspec.Meta(
            description="text, or a CBOR byte string",
            extra_json_schema={"anyOf": [{"type": "string"}, {"type": "string", "contentEncoding": "base64"}]},
        ),
    ]



# ---- objects of events and replies -------------------------------------------


class Message(Body, frozen=True):
    """A message as one user sees it (PROTOCOL.md §6): `direction` 0 sent, 1 received."""

    message_id: str
    client_message_id: str | None
    conversation_id: str
    conversation_type: int
    sender_user_id: str
    type: int
    message: TextOrBytes
    extended_data: str
    timestamp: int
    message_seq: int
    direction: int
    receipt_status: int
    is_revoked: bool


class Conversation(Body, frozen=True):
    """A conversation of the user's list (PROTOCOL.md §7)."""

    conversation_id: str
    conversation_type: int
    conversation_name: str
    unread_message_count: int
    last_message: Message | None
    order_key: int
    is_pinned: bool
    notification_status: int
    draft: str
    marks: list[int]


class ConversationChange(Body, frozen=True):
    """`event`: 0 added, 1 updated, 3 deleted."""

    event: int
    conversation: Conversation


class ReceiptInfo(Body, frozen=True):
    """Receipt status of one message (0 none, 1 processing, 2 done) and its read counts."""

    conversation_id: str
    conversation_type: int
    message_id: str
    status: int
    read_member_count: int
    unread_member_count: int
    is_self_operated: bool


class ConversationReceiptInfo(Body, frozen=True):
    """Everything in the conversation up to `readTime` was read."""

    conversation_id: str
    conversation_type: int
    read_time: int
    is_self_operated: bool


class MessageReply(Reply, frozen=True):
    """The message as the sender sees it (direction 0)."""

    message: Message


class MessageListReply(Reply, frozen=True):
    message_list: list[Message]


class ConversationListReply(Reply, frozen=True):
    conversation_list: list[Conversation]


class ConversationReply(Reply, frozen=True):
    conversation: Conversation


class CountReply(Reply, frozen=True):
    count: int


class ReceiptInfosReply(Reply, frozen=True):
    infos: list[ReceiptInfo]


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
    """Send to a user (0), a room (1), a group (2) or a thread (3); to own devices when the target is oneself."""

    reply = MessageReply

    to_conversation_id: ID
    conversation_type: Literal[0, 1, 2, 3]
    message: MessageBody
    config: SendConfig = SendConfig()
    client_message_id: ID | None = None
    to_login_id: ID | None = None


MAX_MESSAGE_BYTES = 32 * 1024


def message_size(body: MessageBody) -> int:
    """Bytes of a message body as the 32 KiB limit (error 6002) counts them."""
    text = body.message
    return len(text.encode()) if isinstance(text, str) else len(text)


ConversationType = Literal[0, 1, 2, 3]  # peer, room, group, thread (PROTOCOL.md §5)
MessageIDs = Annotated[list[ID], msgspec.Meta(min_length=1, max_length=100)]


class DeleteConfig(Body, frozen=True):
    is_also_delete_server_message: bool = False


class ConversationDeleteConfig(Body, frozen=True):
    is_also_delete_server_conversation: bool = True


class HistoryConfig(Body, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    next_message_seq: StoredUInt | None = None
    reverse: bool = False


class NextConversation(Body, frozen=True):
    conversation_id: ID
    conversation_type: ConversationType
    order_key: StoredInt = 0
    is_pinned: bool = False


class ConversationListConfig(Body, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    next_conversation: NextConversation | None = None


class QueryHistoryMessage(Request, tag="queryHistoryMessage"):
    """A page of one conversation's history as this user sees it: newest first unless `reverse`."""

    reply = MessageListReply

    conversation_id: ID
    conversation_type: ConversationType
    config: HistoryConfig = HistoryConfig()


class RevokeMessage(Request, tag="revokeMessage"):
    """Revoke one's own message; every party's devices get messageRevokeReceived."""

    reply = MessageReply

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

    reply = ConversationListReply

    config: ConversationListConfig = ConversationListConfig()


class QueryConversation(Request, tag="queryConversation"):
    """One conversation."""

    reply = ConversationReply

    conversation_id: ID
    conversation_type: ConversationType


class DeleteConversation(Request, tag="deleteConversation"):
    """Remove a conversation from the list (messages stay in history)."""

    conversation_id: ID
    conversation_type: ConversationType
    config: ConversationDeleteConfig = ConversationDeleteConfig()


class DeleteAllConversations(Request, tag="deleteAllConversations"):
    """Remove every conversation from the list; replies with the count."""

    reply = CountReply

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

    reply = ReceiptInfosReply

    conversation_id: ID
    conversation_type: ConversationType
    message_ids: MessageIDs


class SendConversationMessageReceiptRead(Request, tag="sendConversationMessageReceiptRead"):
    """Mark every received message of the conversation read."""

    reply = ReceiptInfosReply

    conversation_id: ID
    conversation_type: ConversationType


class QueryMessageReceiptsInfo(Request, tag="queryMessageReceiptsInfo"):
    """Receipt status, read and unread member counts of messages."""

    reply = ReceiptInfosReply

    conversation_id: ID
    conversation_type: ConversationType
    message_ids: MessageIDs


# ---- events ------------------------------------------------------------------


class PeerMessageReceived(DurableEvent, tag="peerMessageReceived", frozen=True):
    """To every device of the receiver (direction 1) and the sender's other devices (direction 0)."""

    message_list: list[Message]
    from_conversation_id: str


class ConversationChanged(DurableEvent, tag="conversationChanged", frozen=True):
    """Conversations added, updated or deleted."""

    info_list: list[ConversationChange]


class ConversationTotalUnreadMessageCountUpdated(DurableEvent, tag="conversationTotalUnreadMessageCountUpdated", frozen=True):
    """Whenever the account's total of unread messages changes."""

    total_unread_message_count: int


class ConversationsAllDeleted(DurableEvent, tag="conversationsAllDeleted", frozen=True):
    """deleteAllConversations on another device: `count` conversations went."""

    count: int


class MessageRevokeReceived(DurableEvent, tag="messageRevokeReceived", frozen=True):
    """Revoked messages (isRevoked true), to every party's devices."""

    message_list: list[Message]


class MessageDeleted(DurableEvent, tag="messageDeleted", kw_only=True, frozen=True):
    """Server deletions, to own other devices: `messageDeleteType` 0 list, 1 conversation, 2 all.

    `conversationID` and `conversationType` are left out when every conversation was cleared (type 2).
    """

    message_delete_type: int
    is_delete_conversation_all_message: bool
    message_list: list[Message]
    conversation_id: str | msgspec.UnsetType = msgspec.UNSET
    conversation_type: int | msgspec.UnsetType = msgspec.UNSET


class MessageReceiptChanged(DurableEvent, tag="messageReceiptChanged", frozen=True):
    """Receipt status and read counts of messages changed."""

    infos: list[ReceiptInfo]


class ConversationMessageReceiptChanged(DurableEvent, tag="conversationMessageReceiptChanged", frozen=True):
    """A whole conversation was read."""

    infos: list[ConversationReceiptInfo]
