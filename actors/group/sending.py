"""Group messages: stored once with a pending delivery per member, then delivered to each member's account."""

from __future__ import annotations

from dataclasses import replace

from ..account import conversations as conv
from ..account.messages import Deliver
from ..hooks import MessageSent, hook_message
from ..ids import IDEMPOTENCY_WINDOW_MS, new_message_id
from ..store.base import GroupWrite, MessageRow
from ..wire.messages import Message
from .core import GroupCore, _now
from .messages import SendGroupMessage


class GroupMessages(GroupCore):
    """Sending to the group: one message, one messageSeq, a delivery for every member."""

    async def _send(self, msg: SendGroupMessage) -> Message:
        record = self._group()
        self._role_of(msg.user)
        if msg.client_message_id is not None:
            since = _now() - IDEMPOTENCY_WINDOW_MS
            earlier = await self.ctx.store.find_client_message(msg.user, msg.client_message_id, since)
            if earlier is not None:
                # the key is the user's (PROTOCOL.md §4), whichever conversation it was used in
                return await self._original(msg.user, earlier)
        seq = record.last_seq + 1
        message = MessageRow(
            new_message_id(), 2, msg.user, self.group_id, msg.type, msg.body, msg.extended_data, _now(),
            msg.client_message_id, msg.has_receipt, conv.RECEIPT_PROCESSING if msg.has_receipt else conv.RECEIPT_NONE,
        )
        record = replace(record, last_seq=seq)
        deliveries = [(member, message.message_id, msg.login_id if member == msg.user else None) for member in record.members]
        hooks = self.ctx.webhooks
        calls = [] if hooks is None else hooks.plan(msg.user, "messageSent", MessageSent(user_id=msg.user, message=hook_message(message)))
        try:
            await self.ctx.store.commit_group(GroupWrite(record, new_message=message, message_seq=seq, deliveries=deliveries, webhooks=calls))
        except Exception:  # not stored: the planned calls give their room back
            if hooks is not None:
                hooks.release(len(calls))
            raise
        if hooks is not None and calls:
            hooks.stored()
        self.record = record
        for member in record.members:
            exclude = msg.login_id if member == msg.user else None
            await self.ctx.post_account(member, Deliver(message, seq, exclude))
        self.ctx.stats["group_messages"] += 1
        self.ctx.stats["group_deliveries"] += len(deliveries)
        return conv.message_wire(message, self.group_id, seq, conv.SEND)

    async def _original(self, user: str, earlier: MessageRow) -> Message:
        """A message `user` sent before, as its reply showed it.

        The sender's own delivery of a group message may still be pending
        (its account consumes it after this actor replied), so its messageSeq
        comes from the pending delivery, else from the sender's view.
        """
        pending = await self.ctx.store.pending_deliveries(user)
        seq = next(
            (p.group_seq for p in pending if p.message is not None and p.message.message_id == earlier.message_id), None
        )
        if seq is None:
            view = await self.ctx.store.view_of(user, earlier.message_id)
            seq = 0 if view is None else view.message_seq
        return conv.message_wire(earlier, earlier.target, seq, conv.SEND)

