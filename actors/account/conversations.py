"""Pure rules of one account's conversations: counts, order, wire shapes.

Unread counts follow a read watermark: a conversation's unread count is the
number of received messages above `read_seq`. Every change below keeps that
true, so all devices, which only ever see the server's numbers, agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from ..store.base import ConversationRow, MessageRow
from ..wire.messages import Conversation, Message, ReceiptInfo

SEND, RECEIVE = 0, 1
RECEIPT_NONE, RECEIPT_PROCESSING, RECEIPT_DONE = 0, 1, 2

Key = tuple[int, str]  # (conversation type, conversation ID)


def key_of(row: ConversationRow) -> Key:
    return (row.conversation_type, row.conversation_id)


def with_message(row: ConversationRow, message: MessageRow, direction: int, seq: int | None = None) -> ConversationRow:
    """The conversation after a message took the next seq in it (or `seq`, a group's own order)."""
    return replace(
        row,
        last_seq=row.last_seq + 1 if seq is None else max(seq, row.last_seq),
        unread=row.unread + (1 if direction == RECEIVE else 0),
        last_message_id=message.message_id,
        order_key=message.timestamp,
        deleted=False,
    )


def read_all(row: ConversationRow) -> ConversationRow:
    """Every message up to now is read."""
    return replace(row, read_seq=row.last_seq, unread=0)


def after_hiding(row: ConversationRow, hidden: Iterable[tuple[int, int]]) -> ConversationRow:
    """Remove (seq, direction) messages from the view: unread drops for received ones above the watermark."""
    unread_hidden = sum(1 for seq, direction in hidden if direction == RECEIVE and seq > row.read_seq)
    return replace(row, unread=max(0, row.unread - unread_hidden))


def _counted(row: ConversationRow) -> int:
    return 0 if row.deleted else row.unread


class Table(dict[Key, ConversationRow]):
    """An account's conversations by key, keeping their unread total as rows are set.

    Rows are only ever set (item assignment or update), never removed: a
    deleted conversation is a row marked deleted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total_unread = 0

    def __setitem__(self, key: Key, row: ConversationRow) -> None:
        self.total_unread += self._change(key, row)
        super().__setitem__(key, row)

    def update(self, rows: Mapping[Key, ConversationRow]) -> None:  # type: ignore[override]
        for key, row in rows.items():
            self[key] = row

    def total_with(self, changed: Mapping[Key, ConversationRow]) -> int:
        """The unread total once `changed` rows are set."""
        return self.total_unread + sum(self._change(key, row) for key, row in changed.items())

    def _change(self, key: Key, row: ConversationRow) -> int:
        """How setting `row` at `key` moves the unread total."""
        before = self.get(key)
        return _counted(row) - (0 if before is None else _counted(before))


def list_key(row: ConversationRow) -> tuple[bool, int, int, str]:
    """Sort key of the conversation list: pinned first, then newest last message."""
    return (not row.is_pinned, -row.order_key, row.conversation_type, row.conversation_id)


def page(rows: Iterable[ConversationRow], count: int, after: tuple[bool, int, int, str] | None) -> list[ConversationRow]:
    ordered = sorted((r for r in rows if not r.deleted), key=list_key)
    if after is not None:
        ordered = [r for r in ordered if list_key(r) > after]
    return ordered[:count]


def message_wire(message: MessageRow, conversation_id: str, seq: int, direction: int) -> Message:
    """The protocol's Message as one user sees it."""
    return Message(
        message_id=message.message_id,
        client_message_id=message.client_message_id,
        conversation_id=conversation_id,
        conversation_type=message.conversation_type,
        sender_user_id=message.sender,
        type=message.type,
        message=message.body,
        extended_data=message.extended_data,
        timestamp=message.timestamp,
        message_seq=seq,
        direction=direction,
        receipt_status=message.receipt_status,
        is_revoked=message.is_revoked,
    )


def conversation_wire(row: ConversationRow, last_message: Message | None) -> Conversation:
    """The protocol's Conversation."""
    return Conversation(
        conversation_id=row.conversation_id,
        conversation_type=row.conversation_type,
        conversation_name=row.name,
        unread_message_count=row.unread,
        last_message=last_message,
        order_key=row.order_key,
        is_pinned=row.is_pinned,
        notification_status=row.notification_status,
        draft=row.draft,
        marks=list(row.marks),
    )


def receipt_info(
    conversation_id: str, conversation_type: int, message_id: str, *, status: int, read: int, unread: int, self_operated: bool
) -> ReceiptInfo:
    """The protocol's receipt info of one message."""
    return ReceiptInfo(
        conversation_id=conversation_id,
        conversation_type=conversation_type,
        message_id=message_id,
        status=status,
        read_member_count=read,
        unread_member_count=unread,
        is_self_operated=self_operated,
    )
