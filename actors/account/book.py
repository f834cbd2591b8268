"""ConversationBook: one account's conversations, each with its last message as the wire shows it."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InvalidArgument
from ..store.base import ConversationRow, MessageRow, ViewedMessage
from ..wire import messages as w
from . import conversations as conv


class ConversationBook:
    """The conversation table (with its unread total) and the last messages, kept in memory.

    Rows change only after the step that changes them is stored (see Step),
    so the book always shows what storage holds.
    """

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.table = conv.Table()
        self.last: dict[conv.Key, w.Message | None] = {}

    def restore(self, conversations: list[tuple[ConversationRow, MessageRow | None]]) -> None:
        """Take the stored conversations with their last messages (from Store.account_state)."""
        self.table, self.last = conv.Table(), {}
        for row, last in conversations:
            key = conv.key_of(row)
            self.table[key] = row
            direction = conv.SEND if last is not None and last.sender == self.user_id else conv.RECEIVE
            self.last[key] = None if last is None else conv.message_wire(last, row.conversation_id, row.last_seq, direction)

    def get(self, key: conv.Key) -> ConversationRow | None:
        """The row, deleted or not; None if the account never had the conversation."""
        return self.table.get(key)

    def live(self, conversation_type: int, conversation_id: str) -> ConversationRow:
        """A conversation in the list; InvalidArgument if there is none (or it was deleted)."""
        row = self.table.get((conversation_type, conversation_id))
        if row is None or row.deleted:
            raise InvalidArgument(f"no conversation {conversation_id!r} of type {conversation_type}")
        return row

    def rows(self) -> list[ConversationRow]:
        return list(self.table.values())

    def wire(self, row: ConversationRow) -> w.Conversation:
        return conv.conversation_wire(row, self.last.get(conv.key_of(row)))

    def remember(self, row: ConversationRow, last: w.Message) -> None:
        """A stored row with a new last message."""
        key = conv.key_of(row)
        self.table[key] = row
        self.last[key] = last

    def update(self, changed: Mapping[conv.Key, ConversationRow]) -> None:
        """Stored rows whose last message stays."""
        self.table.update(changed)

    def cleared(self, changed: Mapping[conv.Key, ConversationRow]) -> None:
        """Stored rows whose messages are all gone."""
        for key, row in changed.items():
            self.table[key] = row
            self.last[key] = None

    def revoked(self, found: ViewedMessage, wire: w.Message) -> None:
        """A revoked last message shows as revoked in the conversation, as it does after a restart."""
        key = (found.message.conversation_type, found.conversation_id)
        last = self.last.get(key)
        if last is not None and last.message_id == found.message.message_id:
            self.last[key] = wire

    def total_unread_event(self, changed: Mapping[conv.Key, ConversationRow]) -> w.ConversationTotalUnreadMessageCountUpdated:
        """The account's unread total once `changed` rows are stored."""
        return w.ConversationTotalUnreadMessageCountUpdated(self.table.total_with(changed))

    def unread_events(self, changed: Mapping[conv.Key, ConversationRow]) -> list[w.ConversationChanged | w.ConversationTotalUnreadMessageCountUpdated]:
        infos = [w.ConversationChange(event=1, conversation=self.wire(r)) for r in changed.values()]
        return [w.ConversationChanged(infos), self.total_unread_event(changed)]
