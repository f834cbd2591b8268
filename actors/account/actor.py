"""AccountActor: one user's devices, login policy decisions, conversations and durable stream.

The actor is put together from components, each owning one part of the
account's state: DeviceTable (online devices and their sessions), Stream
(the durable stream's seqs), ConversationBook (conversations and their last
messages), and the Messaging and Social handlers. Every message is handled
as one Step (step.py): the handler records the rows and durable events it
changes and what follows once they are stored; the actor commits the step in
one transaction, pushes the events, then runs what follows. A login too is
one step: the account row, the kicked devices' and the new device's rows.
Changes to the online devices are announced (`selfDevicesChanged`) once the
inbox runs empty (`drained`), so a burst of logins costs each device one event.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any, TypeVar, assert_never

from ..errors import InvalidArgument, LoginRejectedByPolicy, NotLoggedIn, StorageUnavailable
from ..ids import node_of_login, now_ms
from ..outbound import REPLY_MARK, Answer, DeviceEvent, Disconnect
from ..runtime import Actor, Address, Asks, Reply, answer
from ..store.base import AccountWrite, AlreadyDelivered, ClientMessageIDTaken, Fence, StoredEvent, fence_of
from ..wire import CloseCode
from ..wire.session import ConnectionStateChanged, DeviceInfo, KickDetail, LoginReply
from .book import ConversationBook
from .context import AccountContext
from .devices import DeviceTable, info_of, record_of
from .messages import (
    AccountEvents,
    AccountMsg,
    Acked,
    AddFriend,
    AnswerFriend,
    ClearUnread,
    DeleteAllMessages,
    DeleteConversation,
    DeleteFriends,
    DeleteMessages,
    Deliver,
    DeviceGone,
    ForceOffline,
    KickOwnDevice,
    Login,
    LoginAccepted,
    NodesLeft,
    Logout,
    QueryConversation,
    QueryConversations,
    QueryDevices,
    ReadReceipts,
    ReceiptsChanged,
    RecoverDeliveries,
    Revoke,
    Revoked,
    SendPeer,
    TakePending,
    UpdateConversation,
    UpdateProfile,
    Wake,
    events_from,
    notice_from,
)
from .messaging import Messaging
from .policy import OnlineDevice, plan_login
from .social import Social
from .step import Step
from .stream import Stream
from .webhooks import Webhooks

log = logging.getLogger("hubbub.account")

KICKED_CLOSE = 4000
# Messages handled at most while a changed device list waits for the inbox to
# run empty: one burst of logins (up to max_devices_per_account, 64 by
# default) fits well inside it.
ANNOUNCE_HELD_MAX = 256
FORCED_OFFLINE_CLOSE = 4001

T = TypeVar("T")


class AccountActor(Actor[AccountMsg]):
    """One account: its online devices, the policy's kicks, its conversations and durable stream."""

    def __init__(self, address: Address, ctx: AccountContext) -> None:
        super().__init__(address)
        self.user_id = address.key
        self.ctx = ctx
        self.devices = DeviceTable(ctx.devices)
        self.stream = Stream(self.user_id)
        self.book = ConversationBook(self.user_id)
        self.webhooks = Webhooks(ctx.webhooks, self.user_id)
        self.messaging = Messaging(ctx, self.user_id, self.book, self.webhooks, self._online_device_ids)
        self.social = Social(ctx, self.user_id)
        self._held = 0  # messages handled since the device list changed, not yet announced

    async def start(self) -> None:
        store = self.ctx.store
        state = await store.account_state(self.user_id)
        self.stream.restore(state.oldest_seq, state.head_seq)
        await self.webhooks.load(store)
        stored = state.online
        lost = self.devices.restore(stored)
        if lost:
            step = Step()
            self._lost([info_of(r) for r in stored if r.login_id in lost], step)
            await self._commit(step)
        self.book.restore(state.conversations)
        if state.deliveries_pending:
            # Deliveries left over from before this start: taken behind the
            # messages already queued (which came first), never ahead of them.
            await self.ctx.post_account(self.user_id, RecoverDeliveries())

    def _lost(self, gone: list[DeviceInfo], step: Step) -> None:
        """Record devices whose sessions are gone with their node (or a restart) as offline, reason "lost"."""
        now = now_ms()
        step.store(AccountWrite(self.user_id, devices_offline=[(device.login_id, now, "lost") for device in gone]))
        step.call(self.webhooks.offline((device, "lost") for device in gone))

    def _nodes_left(self, nodes: tuple[str, ...], step: Step) -> None:
        """Drop the devices the nodes that left served: offline in one step; the others hear the device list once."""
        gone = [online.info for login_id, online in self.devices.online.items() if node_of_login(login_id) in nodes]
        if not gone:
            return
        self._lost(gone, step)

        async def dropped(_: list[int]) -> None:
            for device in gone:
                self.devices.drop(device.login_id)
            log.info("account=%s %d devices lost with nodes %s (%d online)", self.user_id, len(gone), ",".join(nodes), len(self.devices))

        step.then(dropped)

    def idle(self) -> bool:
        return len(self.devices) == 0

    def drained(self) -> None:
        """The end of a burst: every device that is behind hears the device list once."""
        self._held = 0
        if self.devices.changed:
            self.ctx.stats["device_list_events"] += self.devices.announce()

    def taken_over(self) -> None:
        """Another node owns the account now: close its devices here resumably (4004), so they reconnect and find it."""
        for login_id in list(self.devices.online):
            if (online := self.devices.drop(login_id)) is not None:
                self.devices.push(online.session, Disconnect(CloseCode.SHUTTING_DOWN, "account moved to another node"))

    def _fence(self) -> Fence | None:
        """What every write of this account carries: it commits only while this node's claim holds."""
        return fence_of(str(self.address), self.epoch)

    def _online_device_ids(self) -> list[str]:
        return [d.device_id for d in self.devices.infos()]

    async def handle(self, msg: AccountMsg, reply: Reply[Any] | None) -> None:
        step = Step()
        try:
            match msg:
                case Login():
                    await self._finish(reply, msg, step, self._login(msg, step))
                case Logout():
                    if msg.login_id not in self.devices:
                        raise NotLoggedIn("this device is no longer logged in")
                    self._remove(msg.login_id, "logout", step)
                    await self._finish(reply, msg, step, None)
                case DeviceGone():
                    self._remove(msg.login_id, msg.reason, step)
                case QueryDevices():
                    answer(reply, msg, self.devices.infos())
                case ForceOffline():
                    await self._finish(reply, msg, step, self._force_offline(msg.login_id, step))
                case KickOwnDevice():
                    self._kick_own_device(msg, step)
                    await self._finish(reply, msg, step, None)
                case Acked():
                    self.devices.acked(msg.login_id, min(msg.seq, self.stream.head_seq))
                case SendPeer():
                    self._check_to_login(msg)
                    try:
                        await self._finish(reply, msg, step, await self.messaging.send_peer(msg, step))
                    except ClientMessageIDTaken as taken:  # nothing of the step was applied
                        log.info("account=%s %s: answered with that message", self.user_id, taken)
                        answer(reply, msg, await self.messaging.send_that_took(taken))
                case Deliver():
                    self.messaging.deliver(msg, step)
                case TakePending():
                    await self._recover_deliveries()
                    await self._finish(reply, msg, step, None)
                case Revoke():
                    await self._finish(reply, msg, step, await self.messaging.revoke(msg, step))
                case Revoked():
                    await self.messaging.revoked(msg, step)
                case DeleteMessages():
                    await self.messaging.delete_messages(msg, step)
                    await self._finish(reply, msg, step, None)
                case DeleteAllMessages():
                    await self.messaging.delete_all_messages(msg, step)
                    await self._finish(reply, msg, step, None)
                case QueryConversations():
                    answer(reply, msg, self.messaging.query_conversations(msg))
                case QueryConversation():
                    answer(reply, msg, self.messaging.query_conversation(msg))
                case DeleteConversation():
                    await self._finish(reply, msg, step, self.messaging.delete_conversation(msg, step))
                case ClearUnread():
                    self.messaging.clear_unread(msg, step)
                    await self._finish(reply, msg, step, None)
                case UpdateConversation():
                    self.messaging.update_conversation(msg, step)
                    await self._finish(reply, msg, step, None)
                case ReadReceipts():
                    await self._finish(reply, msg, step, await self.messaging.read_receipts(msg, step))
                case ReceiptsChanged():
                    await self.messaging.receipts_changed(msg, step)
                case AccountEvents():
                    self.messaging.account_events(msg, step)
                case UpdateProfile():
                    await self._finish(reply, msg, step, await self.social.update_profile(msg, step))
                case AddFriend():
                    await self._finish(reply, msg, step, await self.social.add_friend(msg, step))
                case AnswerFriend():
                    await self._finish(reply, msg, step, await self.social.answer_friend(msg, step))
                case DeleteFriends():
                    await self._finish(reply, msg, step, await self.social.delete_friends(msg, step))
                case RecoverDeliveries():
                    await self._recover_deliveries()
                case Wake():
                    pass
                case NodesLeft():
                    self._nodes_left(msg.nodes, step)
                case _:
                    assert_never(msg)
            await self._commit(step)  # told messages; a no-op once _finish committed it
        except BaseException:
            if not step.committed:  # planned calls whose change will never be stored (a refusal, a crash)
                self._release_webhooks(step)
            raise
        if self.devices.changed:
            # An inbox that never runs empty must not hold the list back for ever.
            self._held += 1
            if self._held >= ANNOUNCE_HELD_MAX:
                self.drained()

    async def _finish(self, reply: Reply[Any] | None, msg: Asks[T], step: Step, value: T) -> None:
        """Commit the message's step, then answer it with `value`."""
        await self._commit(step)
        answer(reply, msg, value)

    # ---- committing a step ----------------------------------------------------

    async def _commit(self, step: Step) -> None:
        """Store the step's rows and events in one transaction, push the events, then run what follows.

        A repeat (AlreadyDelivered: the outbox row was taken before) changes
        nothing; StorageUnavailable is raised with nothing applied; any
        other failure crashes the actor, which restarts from storage.
        """
        if step.committed:
            return
        step.committed = True
        outbox_ids: list[int] = []
        stamped: list[DeviceEvent] = []
        if not step.empty:
            # the sync rule: what one device did shows on the others as from this user
            stamped = self.stream.stamp(step.events, None if step.exclude is None else self.user_id)
            stamp, only_device = now_ms(), self.devices.device_id_of(step.only)
            stored = [StoredEvent(e.seq or 0, e.name, e.frame(), stamp, only_device) for e in stamped]
            rows = step.rows if step.rows is not None else AccountWrite(self.user_id)
            rows.events, rows.webhooks = stored, step.webhooks  # the step's own write
            hooks = self.ctx.webhooks
            try:
                # the calls count as on disk if this returns; whatever it raises gives their room back
                with nullcontext() if hooks is None else hooks.storing(step.webhooks):
                    outbox_ids = await self.ctx.store.commit(rows, fence=self._fence())
            except AlreadyDelivered:
                self.stream.unstamp(len(stamped))
                return
            except (StorageUnavailable, ClientMessageIDTaken):
                self.stream.unstamp(len(stamped))
                raise
        for event in stamped:
            self.devices.send(event, exclude=step.exclude, only=step.only)
        if stamped and step.exclude is not None and step.only is None:
            self.devices.send(REPLY_MARK, only=step.exclude)  # the acting device's reply goes here among its pushes
        for action in step.after:
            await action(outbox_ids)
        if stamped:
            await self.stream.trim(self.ctx.store, self.ctx.stream_keep_count, self.ctx.stream_keep_s, self._fence())

    def _release_webhooks(self, step: Step) -> None:
        if step.webhooks and self.ctx.webhooks is not None:
            self.ctx.webhooks.release(len(step.webhooks))

    async def _recover_deliveries(self) -> None:
        """What other accounts queued for this one and it has not taken yet, each as its own step."""
        for pending in await self.ctx.store.pending_deliveries(self.user_id):
            step = Step()
            if pending.message is not None:
                self.messaging.deliver(Deliver(pending.message, pending.group_seq, pending.exclude_login), step)
            elif pending.events is not None:
                self.messaging.account_events(AccountEvents(events_from(pending.events), pending.exclude_login, pending.queued), step)
            elif pending.notice is not None:
                notice = notice_from(pending.notice, pending.queued)
                if isinstance(notice, Revoked):
                    await self.messaging.revoked(notice, step)
                else:
                    await self.messaging.receipts_changed(notice, step)
            await self._commit(step)

    def _check_to_login(self, msg: SendPeer) -> None:
        """A message for one device must name another online device of this account; raises InvalidArgument."""
        target = msg.to_login_id
        if target is None:
            return
        if msg.to_user != self.user_id:
            raise InvalidArgument("toLoginID is for messages to one's own devices (toConversationID = own userID)")
        if target == msg.login_id or target not in self.devices:
            raise InvalidArgument(f"toLoginID {target!r} is not another online device of this account")

    # ---- login, logout, kicks -----------------------------------------------

    def _login(self, msg: Login, step: Step) -> LoginAccepted:
        new = msg.device
        plan = plan_login(
            self.ctx.policy.current, self.devices.for_policy(), OnlineDevice(new.login_id, new.device_id, new.platform, new.login_time)
        )
        if plan.rejected:
            self.ctx.stats["logins_rejected"] += 1
            raise LoginRejectedByPolicy(f"the login policy allows no more {new.platform} devices for this account")
        if len(self.devices) - len(plan.kicks) + 1 > self.ctx.max_devices:
            self.ctx.stats["logins_over_device_cap"] += 1
            raise LoginRejectedByPolicy(
                f"this account has {len(self.devices)} devices online, the most this server allows ({self.ctx.max_devices})"
            )
        now = now_ms()
        step.store(AccountWrite(
            self.user_id,
            account=(msg.user_name or None, now),
            devices_offline=[(kick.login_id, now, f"kicked:{kick.reason}") for kick in plan.kicks],
            device_online=(self.ctx.node, record_of(new)),
        ))
        step.call(self.webhooks.offline((self.devices.online[k.login_id].info, f"kicked:{k.reason}") for k in plan.kicks if k.login_id in self.devices))
        step.call(self.webhooks.online(new))
        resume_gap, replay = self.stream.resume_plan(msg.resume_from, new.device_id)
        kicked = {kick.login_id for kick in plan.kicks}
        devices = [d for d in self.devices.infos() if d.login_id not in kicked] + [new]

        async def admitted(_: list[int]) -> None:
            for kick in plan.kicks:
                self._kicked(kick.login_id, KICKED_CLOSE, kick.reason, _kicked_event(kick.reason, new.login_id, new.platform))
            self.devices.admit(new, msg.session)
            result = LoginReply(
                login_id=new.login_id, server_time=now_ms(), seq=self.stream.head_seq, devices=devices, resume_gap=resume_gap
            )
            self.devices.push(msg.session, Answer(msg.request_id, result))
            if replay is not None:
                self.devices.push(msg.session, replay)
            self.ctx.stats["logins"] += 1
            log.info(
                "account=%s login=%s platform=%s device=%s logged in (%d online)",
                self.user_id, new.login_id, new.platform, new.device_id, len(self.devices),
            )

        step.then(admitted)
        return LoginAccepted(new.login_id, self.stream.head_seq, resume_gap, tuple(devices))

    def _remove(self, login_id: str, reason: str, step: Step) -> None:
        if login_id not in self.devices:
            return
        step.store(AccountWrite(self.user_id, devices_offline=[(login_id, now_ms(), reason)]))
        step.call(self.webhooks.offline([(self.devices.online[login_id].info, reason)]))

        async def removed(_: list[int]) -> None:
            if self.devices.drop(login_id) is None:
                return
            log.info("account=%s login=%s offline reason=%s (%d online)", self.user_id, login_id, reason, len(self.devices))

        step.then(removed)

    def _force_offline(self, login_id: str | None, step: Step) -> int:
        targets = [d.login_id for d in self.devices.infos()] if login_id is None else [login_id] if login_id in self.devices else []
        if not targets:
            return 0
        now = now_ms()
        step.store(AccountWrite(self.user_id, devices_offline=[(target, now, "kicked:admin") for target in targets]))
        step.call(self.webhooks.offline((self.devices.online[target].info, "kicked:admin") for target in targets))

        async def forced(_: list[int]) -> None:
            for target in targets:
                self._kicked(target, FORCED_OFFLINE_CLOSE, "admin", _kicked_event("admin", None, None))

        step.then(forced)
        return len(targets)

    def _kick_own_device(self, msg: KickOwnDevice, step: Step) -> None:
        """Sign out another online device of the account; raises InvalidArgument if `target` is not one."""
        acting = self.devices.online.get(msg.login_id)
        if acting is None:
            raise NotLoggedIn("this device is no longer logged in")
        if msg.target == msg.login_id or msg.target not in self.devices:
            raise InvalidArgument(f"loginID {msg.target!r} is not another online device of this account")
        step.store(AccountWrite(self.user_id, devices_offline=[(msg.target, now_ms(), "kicked:self")]))
        event = _kicked_event("self", msg.login_id, acting.info.platform)

        async def kicked(_: list[int]) -> None:
            self._kicked(msg.target, KICKED_CLOSE, "self", event)

        step.then(kicked)

    def _kicked(self, login_id: str, code: int, reason: str, event: DeviceEvent) -> None:
        """The device is gone from the account (its row already is): its session gets the event, then closes."""
        online = self.devices.drop(login_id)
        if online is None:
            return
        self.devices.push(online.session, Disconnect(code, reason, event))
        self.ctx.stats[f"kicks_{reason}"] += 1
        log.info("account=%s login=%s kicked reason=%s", self.user_id, login_id, reason)


def _kicked_event(reason: str, by_login_id: str | None, by_platform: str | None) -> DeviceEvent:
    detail = KickDetail(reason=reason, by_login_id=by_login_id, by_platform=by_platform)
    return DeviceEvent(ConnectionStateChanged(0, 4, detail))
