"""AccountActor: one user's devices, login policy decisions and durable stream."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never

from ..errors import LoginRejectedByPolicy, NotLoggedIn, StorageUnavailable
from ..outbound import Answer, DeviceEvent, DeviceSink, Disconnect, Outbound, Replay
from ..runtime import Actor, Address, Reply, answer
from ..store.base import AccountWrite, AlreadyDelivered, DeviceRecord, Store, StoredEvent
from ..wire import DurableEvent
from ..wire.session import ConnectionStateChanged, KickDetail, LoginReply, SelfDevicesChanged
from .messages import (
    AccountMsg,
    Acked,
    ClearUnread,
    DeleteAllMessages,
    DeleteConversation,
    DeleteMessages,
    Deliver,
    DeviceGone,
    DeviceInfo,
    ForceOffline,
    Login,
    LoginAccepted,
    Logout,
    QueryConversation,
    QueryConversations,
    QueryDevices,
    ReadReceipts,
    ReceiptsChanged,
    Revoke,
    Revoked,
    SendPeer,
    UpdateConversation,
    RecoverDeliveries,
    Wake,
    AccountEvents,
    UpdateProfile,
    AddFriend,
    AnswerFriend,
    DeleteFriends,
)
from .messaging import Messaging
from .social import Social
from .policy import LoginPolicy, OnlineDevice, plan_login

log = logging.getLogger("hubbub.account")

KICKED_CLOSE = 4000
FORCED_OFFLINE_CLOSE = 4001


class PolicyBox:
    """The server's current login policy; replaced at run time by the admin API."""

    def __init__(self, policy: LoginPolicy) -> None:
        self.current = policy


@dataclass(slots=True)
class AccountContext:
    """What every account actor shares: storage, the device sink, the policy."""

    store: Store
    devices: DeviceSink
    policy: PolicyBox
    post_account: Callable[[str, object], Awaitable[None]]  # actor-to-actor tell that cannot deadlock
    node: str = "local"
    stream_keep_count: int = 10_000  # durable events kept per account for resume
    stream_keep_s: float = 7 * 24 * 3600.0
    stats: Counter[str] = field(default_factory=Counter)
    # told (conversation type, seconds from the send) for each message committed to a receiving account
    on_delivered: Callable[[int, float], None] | None = None


def session_address(login_id: str) -> Address:
    """The address of the gateway session that serves one login."""
    return Address("session", login_id)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Online:
    info: DeviceInfo
    session: Address
    acked_seq: int = 0


class AccountActor(Messaging, Social, Actor[AccountMsg]):
    """One account: its online devices, the policy's kicks, its durable stream."""

    def __init__(self, address: Address, ctx: AccountContext) -> None:
        super().__init__(address)
        self.user_id = address.key
        self.ctx = ctx
        self.devices: dict[str, _Online] = {}
        self.head_seq = 0
        self.oldest_seq = 1

    async def start(self) -> None:
        store = self.ctx.store
        self.oldest_seq, self.head_seq = await store.stream_bounds(self.user_id)
        self.devices = {}
        for record in await store.online_devices(self.user_id):
            session = session_address(record.login_id)
            if self.ctx.devices.is_connected(session):
                self.devices[record.login_id] = _Online(_info_of(record), session)
            else:
                await store.device_offline(self.user_id, record.login_id, now_ms(), "lost")
        await self.load_conversations()

    def idle(self) -> bool:
        return not self.devices

    async def handle(self, msg: AccountMsg, reply: Reply[Any] | None) -> None:
        match msg:
            case Login():
                answer(reply, msg, await self._login(msg))
            case Logout():
                await self._logout(msg)
                answer(reply, msg, None)
            case DeviceGone():
                await self._remove(msg.login_id, msg.reason)
            case QueryDevices():
                answer(reply, msg, self._device_list())
            case ForceOffline():
                answer(reply, msg, await self._force_offline(msg.login_id))
            case Acked():
                if (online := self.devices.get(msg.login_id)) is not None:
                    online.acked_seq = max(online.acked_seq, min(msg.seq, self.head_seq))
            case SendPeer():
                answer(reply, msg, await self._send_peer(msg))
            case Deliver():
                await self._deliver(msg)
            case Revoke():
                answer(reply, msg, await self._revoke(msg))
            case Revoked():
                await self._revoked(msg)
            case DeleteMessages():
                await self._delete_messages(msg)
                answer(reply, msg, None)
            case DeleteAllMessages():
                await self._delete_all_messages(msg)
                answer(reply, msg, None)
            case QueryConversations():
                answer(reply, msg, self._query_conversations(msg))
            case QueryConversation():
                answer(reply, msg, self._query_conversation(msg))
            case DeleteConversation():
                answer(reply, msg, await self._delete_conversation(msg))
            case ClearUnread():
                await self._clear_unread(msg)
                answer(reply, msg, None)
            case UpdateConversation():
                await self._update_conversation(msg)
                answer(reply, msg, None)
            case ReadReceipts():
                answer(reply, msg, await self._read_receipts(msg))
            case ReceiptsChanged():
                await self._receipts_changed(msg)
            case AccountEvents():
                await self._account_events(msg)
            case UpdateProfile():
                answer(reply, msg, await self._update_profile(msg))
            case AddFriend():
                answer(reply, msg, await self._add_friend(msg))
            case AnswerFriend():
                answer(reply, msg, await self._answer_friend(msg))
            case DeleteFriends():
                answer(reply, msg, await self._delete_friends(msg))
            case RecoverDeliveries():
                await self._recover_deliveries()
            case Wake():
                pass
            case _:
                assert_never(msg)

    # ---- login and logout ---------------------------------------------------

    async def _login(self, msg: Login) -> LoginAccepted:
        new = msg.device
        online = [
            OnlineDevice(d.info.login_id, d.info.device_id, d.info.platform, d.info.login_time)
            for d in self.devices.values()
        ]
        plan = plan_login(self.ctx.policy.current, online, OnlineDevice(new.login_id, new.device_id, new.platform, new.login_time))
        if plan.rejected:
            self.ctx.stats["logins_rejected"] += 1
            raise LoginRejectedByPolicy(f"the login policy allows no more {new.platform} devices for this account")
        store = self.ctx.store
        await store.ensure_account(self.user_id, msg.user_name or None, now_ms())
        for kick in plan.kicks:
            event = _kicked_event(kick.reason, new.login_id, new.platform)
            await self._disconnect(kick.login_id, KICKED_CLOSE, kick.reason, event)
        await store.device_online(self.user_id, self.ctx.node, _record_of(new))
        resume_gap, replay = self._resume_plan(msg.resume_from, new.device_id)
        self.devices[new.login_id] = _Online(new, msg.session)
        devices = self._device_list()
        result = LoginReply(
            login_id=new.login_id, server_time=now_ms(), seq=self.head_seq, devices=devices, resume_gap=resume_gap
        )
        self._push(msg.session, Answer(msg.request_id, result))
        if replay is not None:
            self._push(msg.session, replay)
        self._devices_changed(exclude=new.login_id)
        self.ctx.stats["logins"] += 1
        log.info("account=%s login=%s platform=%s device=%s logged in (%d online)", self.user_id, new.login_id, new.platform, new.device_id, len(self.devices))
        return LoginAccepted(new.login_id, self.head_seq, resume_gap, tuple(devices))

    def _resume_plan(self, resume_from: int | None, device_id: str) -> tuple[bool, Replay | None]:
        """Whether the device missed events we no longer keep, and what to replay."""
        if resume_from is None or resume_from == self.head_seq:
            return False, None
        if resume_from > self.head_seq or resume_from + 1 < self.oldest_seq:
            return True, None
        return False, Replay(self.user_id, resume_from, self.head_seq, device_id)

    async def _logout(self, msg: Logout) -> None:
        if msg.login_id not in self.devices:
            raise NotLoggedIn("this device is no longer logged in")
        await self._remove(msg.login_id, "logout")

    async def _remove(self, login_id: str, reason: str) -> None:
        if self.devices.pop(login_id, None) is None:
            return
        await self.ctx.store.device_offline(self.user_id, login_id, now_ms(), reason)
        log.info("account=%s login=%s offline reason=%s (%d online)", self.user_id, login_id, reason, len(self.devices))
        self._devices_changed()

    async def _force_offline(self, login_id: str | None) -> int:
        targets = list(self.devices) if login_id is None else [login_id] if login_id in self.devices else []
        for target in targets:
            event = _kicked_event("admin", None, None)
            await self._disconnect(target, FORCED_OFFLINE_CLOSE, "admin", event)
        if targets:
            self._devices_changed()
        return len(targets)

    async def _disconnect(self, login_id: str, code: int, reason: str, event: DeviceEvent) -> None:
        online = self.devices.pop(login_id)
        self._push(online.session, Disconnect(code, reason, event))
        self.ctx.stats[f"kicks_{reason}"] += 1
        log.info("account=%s login=%s kicked reason=%s", self.user_id, login_id, reason)
        await self.ctx.store.device_offline(self.user_id, login_id, now_ms(), f"kicked:{reason}")

    # ---- delivery -----------------------------------------------------------

    def _device_list(self) -> list[DeviceInfo]:
        return [d.info for d in self.devices.values()]

    def _devices_changed(self, exclude: str | None = None) -> None:
        event = DeviceEvent(SelfDevicesChanged(self._device_list()))
        self._broadcast(event, exclude=exclude)

    def _broadcast(self, item: Outbound, exclude: str | None = None) -> None:
        for login_id, online in list(self.devices.items()):
            if login_id != exclude:
                self._push(online.session, item)

    def _push(self, session: Address, item: Outbound) -> None:
        self.ctx.devices.push(session, item)

    async def commit(
        self,
        events: Sequence[DurableEvent],
        *,
        exclude: str | None = None,
        only: str | None = None,
        **changes: Any,
    ) -> list[int]:
        """Commit durable events (with `changes`, see AccountWrite) then push them.

        Events go to every online device but `exclude` (the acting one), or
        only to `only`. Returns once committed, with the outbox IDs of any
        `outbox_events`; raises StorageUnavailable or AlreadyDelivered with
        nothing applied.
        """
        # the sync rule: what one device did shows on the others as from this user
        from_user_id = None if exclude is None else self.user_id
        stamped = []
        for durable in events:
            self.head_seq += 1
            stamped.append(DeviceEvent(durable, self.head_seq, from_user_id))
        stamp = now_ms()
        only_device = None if only is None or only not in self.devices else self.devices[only].info.device_id
        stored = [StoredEvent(e.seq or 0, e.name, e.frame(), stamp, only_device) for e in stamped]
        try:
            outbox_ids = await self.ctx.store.commit(AccountWrite(self.user_id, events=stored, **changes))
        except (StorageUnavailable, AlreadyDelivered):
            # nothing was written; any other failure restarts the actor from storage
            self.head_seq -= len(stamped)
            raise
        for event in stamped:
            if only is not None:
                if (target := self.devices.get(only)) is not None:
                    self._push(target.session, event)
            else:
                self._broadcast(event, exclude=exclude)
        await self._trim_stream()
        return outbox_ids

    async def _trim_stream(self) -> None:
        """Drop events past the retention limits, in steps rather than per event."""
        keep = self.ctx.stream_keep_count
        if self.head_seq - self.oldest_seq < keep + max(64, keep // 10):
            return
        min_time = now_ms() - int(self.ctx.stream_keep_s * 1000)
        await self.ctx.store.trim_stream(self.user_id, keep, min_time)
        self.oldest_seq, _ = await self.ctx.store.stream_bounds(self.user_id)


def _kicked_event(reason: str, by_login_id: str | None, by_platform: str | None) -> DeviceEvent:
    detail = KickDetail(reason=reason, by_login_id=by_login_id, by_platform=by_platform)
    return DeviceEvent(ConnectionStateChanged(0, 4, detail))


def _record_of(info: DeviceInfo) -> DeviceRecord:
    return DeviceRecord(info.login_id, info.device_id, info.platform, info.device_name, info.login_time)


def _info_of(record: DeviceRecord) -> DeviceInfo:
    return DeviceInfo(record.login_id, record.device_id, record.platform, record.device_name, record.login_time)
