"""Messaging: the account actor's component for messages, conversations and receipts (PROTOCOL.md §6, §7).

A peer message is committed by the sender's account (message, the sender's
view, conversation, stream events and a pending delivery, in one
transaction) before the sender gets `ok`; the receiver's account then
consumes the pending delivery exactly once, also in one transaction. After a
crash, pending deliveries are picked up when the receiver's actor starts.

Revokes and read receipts reach the other parties the same way, as notices
in the outbox (each party shows them in its own view of the conversation),
so a crash between the two commits loses neither.

Every handler records what it changes in the message's Step (see step.py)
and touches the book only after that step is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from ..errors import Internal, InvalidArgument, MessageNotFound, NoPermission
from ..ids import IDEMPOTENCY_WINDOW_MS, new_message_id, now_ms
from ..outbound import shared_event
from ..store.base import AccountWrite, ClientMessageIDTaken, ConversationRow, MessageRow, Store, ViewedMessage, ViewRow
from ..wire import AnyDurableEvent
from ..wire import messages as w
from ..wire.social import GroupMessageReceived
from ..wire.threads import ThreadMessageReceived
from . import conversations as conv
from .book import ConversationBook
from .context import AccountContext
from .messages import (
    AccountEvents,
    ClearUnread,
    DeleteAllMessages,
    DeleteConversation,
    DeleteMessages,
    Deliver,
    QueryConversation,
    QueryConversations,
    ReadReceipts,
    ReceiptsChanged,
    Revoke,
    Revoked,
    SendPeer,
    UpdateConversation,
    notice_of,
)
from .step import AfterCommit, Step
from .webhooks import Webhooks

Event = AnyDurableEvent


class Messaging:
    """Handlers of the messaging messages; the conversations they change live in `book`."""

    def __init__(
        self, ctx: AccountContext, user_id: str, book: ConversationBook, webhooks: Webhooks, online_devices: Callable[[], list[str]]
    ) -> None:
        self.ctx = ctx
        self.user_id = user_id
        self.book = book
        self.webhooks = webhooks
        self.online_devices = online_devices  # the deviceIDs online now (for offlinePush)

    # ---- events other actors queued ---------------------------------------------

    def account_events(self, msg: AccountEvents, step: Step) -> None:
        """Durable events another actor queued for this account, taken exactly once."""
        step.store(AccountWrite(self.user_id, delivered_outbox=msg.outbox_id))
        step.emit(msg.events, exclude=msg.exclude_login)

    # ---- sending and receiving ------------------------------------------------

    async def send_peer(self, msg: SendPeer, step: Step) -> w.Message:
        if msg.client_message_id is not None:
            earlier = await self._earlier_send(msg.client_message_id)
            if earlier is not None:
                return earlier
        message = MessageRow(
            new_message_id(), 0, self.user_id, msg.to_user, msg.type, msg.body, msg.extended_data,
            now_ms(), msg.client_message_id, msg.has_receipt,
            conv.RECEIPT_PROCESSING if msg.has_receipt else conv.RECEIPT_NONE,
        )
        to_self = msg.to_user == self.user_id
        before = self.book.get((0, msg.to_user))
        row = conv.with_message(before or ConversationRow(msg.to_user, 0), message, conv.SEND)
        wire = conv.message_wire(message, msg.to_user, row.last_seq, conv.SEND)
        step.store(AccountWrite(
            self.user_id,
            new_message=message,
            views=[ViewRow(0, msg.to_user, row.last_seq, message.message_id, conv.SEND)],
            conversations=[row],
            deliveries=[] if to_self else [(msg.to_user, message.message_id)],
        ))
        step.emit(
            [w.PeerMessageReceived([wire], msg.to_user), _changed(row, wire, added=before is None or before.deleted)],
            exclude=msg.login_id,
            only=msg.to_login_id if to_self else None,
        )
        step.call(self.webhooks.sent(message))

        async def sent(_: list[int]) -> None:
            self.book.remember(row, wire)
            if not to_self:
                await self.ctx.post_account(msg.to_user, Deliver(message))
            self.ctx.stats["messages_sent"] += 1

        step.then(sent)
        return wire

    async def send_that_took(self, taken: ClientMessageIDTaken) -> w.Message:
        """The message that took the clientMessageID of a send at the same moment (stored by another writer), as its reply showed it."""
        earlier = await self._earlier_send(taken.client_message_id, taken.since_ms)
        if earlier is None:
            raise Internal(f"clientMessageID {taken.client_message_id!r} is taken, but its message is not found")
        return earlier

    async def _earlier_send(self, client_message_id: str, since_ms: int | None = None) -> w.Message | None:
        since = now_ms() - IDEMPOTENCY_WINDOW_MS if since_ms is None else since_ms
        earlier = await self.ctx.store.find_client_message(self.user_id, client_message_id, since)
        if earlier is None:
            return None
        view = await self.ctx.store.view_of(self.user_id, earlier.message_id)
        seq = 0 if view is None else view.message_seq
        return conv.message_wire(earlier, earlier.target, seq, conv.SEND)

    def deliver(self, msg: Deliver, step: Step) -> None:
        message = msg.message
        shared = message.conversation_type in SHARED  # a group's or a thread's: its ID, its own order
        cid = message.target if shared else message.sender
        direction = conv.SEND if message.sender == self.user_id else conv.RECEIVE
        key = (message.conversation_type, cid)
        before = self.book.get(key)
        row = conv.with_message(before or ConversationRow(cid, message.conversation_type), message, direction, msg.group_seq)
        seq = row.last_seq if msg.group_seq is None else msg.group_seq
        wire = conv.message_wire(message, cid, seq, direction)
        if shared:
            # the same for every member it reaches this way: encoded once (each member's seq apart)
            once = ("received", message, cid, seq, direction)  # all that message_wire and _received read
            received = shared_event(once, lambda: _received(message.conversation_type, wire, cid))
        else:
            received = _received(message.conversation_type, wire, cid)
        events: list[Event] = [received, _changed(row, wire, added=before is None or before.deleted)]
        if direction == conv.RECEIVE:
            events.append(self.book.total_unread_event({key: row}))
        step.store(AccountWrite(
            self.user_id,
            views=[ViewRow(key[0], key[1], seq, message.message_id, direction)],
            conversations=[row],
            delivered=message.message_id,
        ))
        step.emit(events, exclude=msg.exclude_login)
        if direction == conv.RECEIVE:
            step.call(self.webhooks.arrived(message, cid, self.online_devices()))

        async def delivered(_: list[int]) -> None:
            self.book.remember(row, wire)
            self.ctx.stats["messages_delivered"] += 1
            if self.ctx.on_delivered is not None:
                self.ctx.on_delivered(message.conversation_type, time.time() - message.timestamp / 1000)

        step.then(delivered)

    # ---- revoke and delete ----------------------------------------------------

    async def revoke(self, msg: Revoke, step: Step) -> w.Message:
        if self.book.get((msg.conversation_type, msg.conversation_id)) is None:
            raise InvalidArgument(f"no conversation {msg.conversation_id!r} of type {msg.conversation_type}")
        viewed = await self._viewed_all(msg.conversation_type, msg.conversation_id, (msg.message_id,))
        found = viewed[0]
        if found.message.sender != self.user_id:
            raise NoPermission("only the sender can revoke a message")
        wire = _wire(found, revoked=True)
        if found.message.is_revoked:
            return wire
        parties = await self._other_parties(msg.conversation_type, msg.conversation_id, msg.message_id)
        notice = notice_of(Revoked(msg.message_id))
        step.store(AccountWrite(self.user_id, revoke=msg.message_id, outbox_notices=[(party, notice) for party in parties]))
        step.emit([w.MessageRevokeReceived([wire])], exclude=msg.login_id)

        async def revoked(outbox_ids: list[int]) -> None:
            self.book.revoked(found, wire)
            for party, outbox_id in zip(parties, outbox_ids, strict=True):
                await self.ctx.post_account(party, Revoked(msg.message_id, outbox_id))

        step.then(revoked)
        return wire

    async def revoked(self, msg: Revoked, step: Step) -> None:
        """Show another party's revoke in this account's view; its outbox row is taken with it."""
        found = await self.ctx.store.view_of(self.user_id, msg.message_id)
        if found is None:  # not in this account's view (deleted): only the row is taken
            if msg.outbox_id is not None:
                step.store(AccountWrite(self.user_id, delivered_outbox=msg.outbox_id))
            return
        step.store(AccountWrite(self.user_id, delivered_outbox=msg.outbox_id))
        wire = _wire(found, revoked=True)
        step.emit([w.MessageRevokeReceived([wire])])

        async def shown(_: list[int]) -> None:
            self.book.revoked(found, wire)

        step.then(shown)

    async def delete_messages(self, msg: DeleteMessages, step: Step) -> None:
        row = self.book.live(msg.conversation_type, msg.conversation_id)
        found = await self._viewed_all(msg.conversation_type, msg.conversation_id, msg.message_ids)
        if not msg.on_server:
            return  # only the acting device's local view changes
        after = conv.after_hiding(row, [(v.message_seq, v.direction) for v in found])
        events: list[Event] = [
            w.MessageDeleted(
                message_delete_type=0, is_delete_conversation_all_message=False, message_list=[_wire(v) for v in found],
                conversation_id=msg.conversation_id, conversation_type=msg.conversation_type,
            ),
        ]
        changed = {conv.key_of(after): after}
        events += self.book.unread_events(changed) if after.unread != row.unread else []
        hidden = [(msg.conversation_type, msg.conversation_id, v.message.message_id) for v in found]
        step.store(AccountWrite(self.user_id, hide=hidden, conversations=[after]))
        step.emit(events, exclude=msg.login_id)
        step.then(self._update_book(changed))

    async def delete_all_messages(self, msg: DeleteAllMessages, step: Step) -> None:
        if msg.conversation_id is not None and msg.conversation_type is not None:
            targets = [self.book.live(msg.conversation_type, msg.conversation_id)]
            deleted = w.MessageDeleted(
                message_delete_type=1, is_delete_conversation_all_message=True, message_list=[],
                conversation_id=msg.conversation_id, conversation_type=msg.conversation_type,
            )
        else:
            targets = [r for r in self.book.rows() if r.last_message_id is not None]
            deleted = w.MessageDeleted(message_delete_type=2, is_delete_conversation_all_message=True, message_list=[])
        if not msg.on_server:
            return
        changed = {conv.key_of(r): replace(conv.read_all(r), last_message_id=None) for r in targets}
        step.store(AccountWrite(self.user_id, hide_all=list(changed), conversations=list(changed.values())))
        step.emit([deleted, self.book.total_unread_event(changed)], exclude=msg.login_id)

        async def cleared(_: list[int]) -> None:
            self.book.cleared(changed)

        step.then(cleared)

    # ---- conversations --------------------------------------------------------

    def query_conversations(self, msg: QueryConversations) -> list[w.Conversation]:
        return [self.book.wire(r) for r in conv.page(self.book.rows(), msg.count, msg.after)]

    def query_conversation(self, msg: QueryConversation) -> w.Conversation:
        return self.book.wire(self.book.live(msg.conversation_type, msg.conversation_id))

    def delete_conversation(self, msg: DeleteConversation, step: Step) -> int:
        if msg.conversation_id is not None and msg.conversation_type is not None:
            targets = [self.book.live(msg.conversation_type, msg.conversation_id)]
        else:
            targets = [r for r in self.book.rows() if not r.deleted]
        changed = {conv.key_of(r): replace(conv.read_all(r), deleted=True, is_pinned=False) for r in targets}
        if msg.conversation_id is not None:
            row = next(iter(changed.values()))
            first: Event = w.ConversationChanged([w.ConversationChange(event=3, conversation=self.book.wire(row))])
        else:
            first = w.ConversationsAllDeleted(len(changed))
        step.store(AccountWrite(self.user_id, conversations=list(changed.values())))
        step.emit([first, self.book.total_unread_event(changed)], exclude=msg.login_id)
        step.then(self._update_book(changed))
        return len(changed)

    def clear_unread(self, msg: ClearUnread, step: Step) -> None:
        if msg.conversation_id is not None and msg.conversation_type is not None:
            row = conv.read_all(self.book.live(msg.conversation_type, msg.conversation_id))
            changed = {conv.key_of(row): row}
            events: list[Event] = list(self.book.unread_events(changed))
        else:
            changed = {conv.key_of(r): conv.read_all(r) for r in self.book.rows() if r.unread or r.read_seq != r.last_seq}
            events = [self.book.total_unread_event(changed)]
        step.store(AccountWrite(self.user_id, conversations=list(changed.values())))
        step.emit(events, exclude=msg.login_id)
        step.then(self._update_book(changed))

    def update_conversation(self, msg: UpdateConversation, step: Step) -> None:
        row = self.book.live(msg.conversation_type, msg.conversation_id)
        if msg.is_pinned is not None:
            row = replace(row, is_pinned=msg.is_pinned)
        if msg.notification_status is not None:
            row = replace(row, notification_status=msg.notification_status)
        if msg.draft is not None:
            row = replace(row, draft=msg.draft)
        if msg.marks is not None:
            marks = set(row.marks) | set(msg.marks) if msg.is_marked else set(row.marks) - set(msg.marks)
            row = replace(row, marks=tuple(sorted(marks)))
        step.store(AccountWrite(self.user_id, conversations=[row]))
        step.emit([w.ConversationChanged([w.ConversationChange(event=1, conversation=self.book.wire(row))])], exclude=msg.login_id)
        step.then(self._update_book({conv.key_of(row): row}))

    def _update_book(self, changed: dict[conv.Key, ConversationRow]) -> AfterCommit:
        async def update(_: list[int]) -> None:
            self.book.update(changed)

        return update

    # ---- receipts -------------------------------------------------------------

    async def read_receipts(self, msg: ReadReceipts, step: Step) -> list[w.ReceiptInfo]:
        ctype, cid = msg.conversation_type, msg.conversation_id
        self.book.live(ctype, cid)
        if msg.message_ids is None:
            found = await self.ctx.store.unread_receipts(self.user_id, ctype, cid)
        else:
            found = await self._viewed_all(ctype, cid, msg.message_ids)
            if any(v.direction != conv.RECEIVE or not v.message.has_receipt for v in found):
                raise InvalidArgument("only received messages sent with hasReceipt can be marked read")
        unread = [v.message.message_id for v in found if v.message.receipt_status == conv.RECEIPT_PROCESSING]
        whole = msg.message_ids is None
        if ctype in SHARED:
            infos = await group_receipt_infos(self.ctx.store, cid, unread, self_operated=True, reader=self.user_id, conversation_type=ctype)
        else:
            infos = [conv.receipt_info(cid, ctype, m, status=2, read=1, unread=0, self_operated=True) for m in unread]
        event: Event
        if whole:
            event = w.ConversationMessageReceiptChanged([_conversation_receipt(cid, ctype, True)])
        else:
            event = w.MessageReceiptChanged(infos)
        senders: dict[str, list[str]] = {}
        for v in found:
            if v.message.message_id in unread and v.message.sender != self.user_id:
                senders.setdefault(v.message.sender, []).append(v.message.message_id)
        group_id = cid if ctype in SHARED else None
        notices = [ReceiptsChanged(self.user_id, tuple(ids), whole, group_id, conversation_type=ctype) for ids in senders.values()]
        step.store(AccountWrite(
            self.user_id,
            receipts_read=[] if ctype in SHARED else unread,
            group_reads=unread if ctype in SHARED else [],
            outbox_notices=[(sender, notice_of(n)) for sender, n in zip(senders, notices, strict=True)],
        ))
        step.emit([event], exclude=msg.login_id)

        async def told(outbox_ids: list[int]) -> None:
            for sender, notice, outbox_id in zip(senders, notices, outbox_ids, strict=True):
                await self.ctx.post_account(sender, replace(notice, outbox_id=outbox_id))

        step.then(told)
        return infos

    async def receipts_changed(self, msg: ReceiptsChanged, step: Step) -> None:
        """Show a reader's receipts on this (the sender's) account; its outbox row is taken with them."""
        done: list[str] = []
        event: Event
        if msg.group_id is not None:
            # counted now, so the last notice taken shows every read so far
            infos = await group_receipt_infos(
                self.ctx.store, msg.group_id, list(msg.message_ids), self_operated=False, conversation_type=msg.conversation_type
            )
            done = [i.message_id for i in infos if i.status == conv.RECEIPT_DONE]
            event = w.MessageReceiptChanged(infos)
        elif msg.whole_conversation:
            event = w.ConversationMessageReceiptChanged([_conversation_receipt(msg.reader, 0, False)])
        else:
            infos = [conv.receipt_info(msg.reader, 0, m, status=2, read=1, unread=0, self_operated=False) for m in msg.message_ids]
            event = w.MessageReceiptChanged(infos)
        step.store(AccountWrite(self.user_id, receipts_read=done, delivered_outbox=msg.outbox_id))
        step.emit([event])

    # ---- helpers --------------------------------------------------------------

    async def _viewed_all(self, ctype: int, cid: str, message_ids: tuple[str, ...]) -> list[ViewedMessage]:
        """The messages in this account's view of the conversation; MessageNotFound if any is not."""
        found: list[ViewedMessage] = await self.ctx.store.viewed(self.user_id, ctype, cid, message_ids)
        missing = set(message_ids) - {v.message.message_id for v in found}
        if missing:
            raise MessageNotFound(f"not in this conversation: {', '.join(sorted(missing)[:5])}")
        return found

    async def _other_parties(self, conversation_type: int, conversation_id: str, message_id: str) -> list[str]:
        """Who else holds a message of this conversation: the peer, or a group's or thread's members.

        Of a group or thread, its members now (their deliveries may still wait
        in the outbox) and whoever holds the message in their view: who left
        since, and every member of a destroyed thread.
        """
        if conversation_type not in SHARED:
            return [] if conversation_id == self.user_id else [conversation_id]
        members = await shared_members(self.ctx.store, conversation_type, conversation_id)
        holders = await self.ctx.store.message_holders(message_id)
        return [u for u in dict.fromkeys([*members, *holders]) if u != self.user_id]


def _changed(row: ConversationRow, last: w.Message, *, added: bool) -> w.ConversationChanged:
    return w.ConversationChanged([w.ConversationChange(event=0 if added else 1, conversation=conv.conversation_wire(row, last))])


def _wire(viewed: ViewedMessage, *, revoked: bool = False) -> w.Message:
    message = replace(viewed.message, is_revoked=True) if revoked else viewed.message
    return conv.message_wire(message, viewed.conversation_id, viewed.message_seq, viewed.direction)


def _conversation_receipt(conversation_id: str, conversation_type: int, self_operated: bool) -> w.ConversationReceiptInfo:
    return w.ConversationReceiptInfo(
        conversation_id=conversation_id, conversation_type=conversation_type, read_time=now_ms(), is_self_operated=self_operated,
    )


SHARED = (2, 3)  # conversation types whose messages are stored once for many members: groups and threads


def _received(conversation_type: int, wire: w.Message, cid: str) -> Event:
    if conversation_type == 3:
        return ThreadMessageReceived([wire], cid)
    if conversation_type == 2:
        return GroupMessageReceived([wire], cid)
    return w.PeerMessageReceived([wire], cid)


async def shared_members(store: Store, conversation_type: int, conversation_id: str) -> list[str]:
    """The members of a group (2) or a thread (3) now; none if it is gone."""
    if conversation_type == 3:
        return await store.thread_members(conversation_id)
    group = await store.load_group(conversation_id)
    return [] if group is None else list(group.members)


async def group_receipt_infos(
    store: Store, group_id: str, message_ids: list[str], *, self_operated: bool, reader: str | None = None, conversation_type: int = 2
) -> list[w.ReceiptInfo]:
    """Read and unread member counts of group (or thread) messages; Done once every other member read.

    With `reader`, the counts are those once that user's reads (committed
    with the event that carries them) are in.
    """
    members = await shared_members(store, conversation_type, group_id)
    others = max(0, (len(members) or 1) - 1)
    counts = await store.group_read_counts(message_ids, counting=reader)
    infos = []
    for message_id in message_ids:
        read = counts.get(message_id, 0)
        status = conv.RECEIPT_DONE if read >= others else conv.RECEIPT_PROCESSING
        infos.append(
            conv.receipt_info(group_id, conversation_type, message_id, status=status, read=read, unread=max(0, others - read), self_operated=self_operated)
        )
    return infos
