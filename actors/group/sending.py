"""Group and thread messages: stored once with a pending delivery per member, then delivered to each member's account."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import replace

from ..account import conversations as conv
from ..account.messages import Deliver
from ..hooks import MessageSent, hook_message
from ..ids import IDEMPOTENCY_WINDOW_MS, new_message_id
from ..errors import Internal
from ..store.base import ClientMessageIDTaken, GroupWrite, MessageRow
from ..wire.messages import Message
from .core import GroupCore, _now
from .messages import SendGroupMessage, SendThreadMessage


log = logging.getLogger("hubbub.group")


class GroupMessages(GroupCore):
    """Sending to the group (or one of its threads): one message, one messageSeq, a delivery for every member."""

    async def _send(self, msg: SendGroupMessage) -> Message:
        record = self._group()
        self._role_of(msg.user)
        earlier = await self._earlier(msg)
        if earlier is not None:
            return earlier
        seq = record.last_seq + 1
        message = _message_row(msg, 2, self.group_id)
        record = replace(record, last_seq=seq)
        try:
            await self._fan_out(GroupWrite(record, new_message=message, message_seq=seq), record.members, msg.login_id)
        except ClientMessageIDTaken as taken:
            return await self._message_that_took(msg.user, taken)
        self.ctx.stats["group_messages"] += 1
        return conv.message_wire(message, self.group_id, seq, conv.SEND)

    async def _earlier(self, msg: SendGroupMessage | SendThreadMessage) -> Message | None:
        """The message a repeat of `msg`'s clientMessageID names, as its reply showed it (None: not a repeat)."""
        if msg.client_message_id is None:
            return None
        since = _now() - IDEMPOTENCY_WINDOW_MS
        earlier = await self.ctx.store.find_client_message(msg.user, msg.client_message_id, since)
        # the key is the user's (PROTOCOL.md §4), whichever conversation it was used in
        return None if earlier is None else await self._original(msg.user, earlier)

    async def _message_that_took(self, user: str, taken: ClientMessageIDTaken) -> Message:
        """The message that took the clientMessageID of a send at the same moment (stored through another writer; nothing of this one was)."""
        log.info("group=%s %s: answered with that message", self.group_id, taken)
        earlier = await self.ctx.store.find_client_message(user, taken.client_message_id, taken.since_ms)
        if earlier is None:
            raise Internal(f"clientMessageID {taken.client_message_id!r} is taken, but its message is not found")
        return await self._original(user, earlier)

    async def _fan_out(self, write: GroupWrite, audience: Iterable[str], login_id: str) -> None:
        """Store `write`'s new message with a delivery for each of `audience`, then deliver it to their accounts.

        The sender's delivery leaves out its sending device (`login_id`), which has the reply.
        """
        message = write.new_message
        assert message is not None
        members = list(audience)
        deliveries = [(member, message.message_id, login_id if member == message.sender else None) for member in members]
        hooks = self.ctx.webhooks
        sent = MessageSent(user_id=message.sender, message=hook_message(message))
        calls = [] if hooks is None else hooks.plan(message.sender, "messageSent", sent)
        # the calls count as on disk if the write returns; whatever it raises gives their room back
        with nullcontext() if hooks is None else hooks.storing(calls):
            await self.ctx.store.commit_group(replace(write, deliveries=deliveries, webhooks=calls), fence=self._fence())
        self.record = write.group
        if self.ctx.post_deliveries is not None:
            await self.ctx.post_deliveries(message, write.message_seq, [(member, exclude) for member, _, exclude in deliveries])
        else:
            for member, _, exclude in deliveries:
                await self.ctx.post_account(member, Deliver(message, write.message_seq, exclude))
        self.ctx.stats["group_deliveries"] += len(deliveries)

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


def _message_row(msg: SendGroupMessage | SendThreadMessage, conversation_type: int, target: str) -> MessageRow:
    return MessageRow(
        new_message_id(), conversation_type, msg.user, target, msg.type, msg.body, msg.extended_data, _now(),
        msg.client_message_id, msg.has_receipt, conv.RECEIPT_PROCESSING if msg.has_receipt else conv.RECEIPT_NONE,
    )
