"""How a thread shows on the wire (PROTOCOL.md §15: ThreadInfo)."""

from __future__ import annotations

from ..account import conversations as conv
from ..store.base import ThreadRecord
from ..wire import threads as t


def thread_wire(thread: ThreadRecord, viewer: str | None = None) -> t.ThreadInfo:
    """`thread` as ThreadInfo; its last message from `viewer`'s side (None: as received, for events)."""
    last = thread.last_message
    direction = conv.SEND if last is not None and last.sender == viewer else conv.RECEIVE
    return t.ThreadInfo(
        thread_id=thread.thread_id,
        group_id=thread.group_id,
        parent_message_id=thread.parent_message_id,
        thread_name=thread.name,
        owner_user_id=thread.owner,
        create_time=thread.created_time,
        member_count=len(thread.members),
        last_message=None if last is None else conv.message_wire(last, thread.thread_id, thread.last_seq, direction),
    )
