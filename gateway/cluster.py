"""One node of a cluster: the Redis bus, routing of actor messages, devices held by other nodes.

A node runs the same gateway as a lone server, over the shared PostgreSQL
store, with three differences:

- actor references and actor-to-actor posts go through `ClusterRouting`:
  the local registry when rendezvous hashing over the live membership
  picks this node, the bus otherwise;
- a push to a session this node does not hold goes to the node that does
  (a login ID starts with its node's name), as a node message on the bus,
  in the bus's one ordered queue, behind the answers to asks queued before;
- a login policy set through one node's admin API (saved in the store)
  is announced to the other nodes, which put the stored one in force;
- the admin API and the room caps ask every live node about itself
  (gateway/node_asks.py) and gather the answers (`gather`), saying which
  nodes did not answer in time;
- when the membership changes, actors this node no longer owns are retired
  (they come back on their new owner from the store), and only those; when
  a node left, the accounts, rooms and calls here let go of the devices it
  served (an account records them offline and tells its other devices; the
  others in a room or call are told), the accounts this node now owns that
  have deliveries waiting are started (they take them), and this
  node's devices in rooms that lived on the lost nodes are told those rooms
  are gone (`on_actors_lost`); and when this node's
  own lease lapses it stops: its devices are closed with 4004 (reconnect
  with resumeFrom) and reconnect to the other nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import trio

from actors.account.messages import AccountMsg, Deliver, NodesLeft as AccountNodesLeft, RecoverDeliveries, Wake
from actors.errors import HubbubError, StorageUnavailable
from actors.bus import NODE_KIND, ClusterRouting, MessageCodec, Outgoing, RedisBus
from actors.bus.placement import owner_of
from actors.call.messages import CallMsg, NodesLeft as CallNodesLeft
from actors.group.messages import GroupMsg
from actors.ids import node_of_login
from actors.outbound import REPLY_MARK, Answer, DeviceEvent, Disconnect, Outbound, Replay, ReplyMark
from actors.room.messages import NodesLeft as RoomNodesLeft, RoomMsg
from actors.runtime import ActorError, Address, Asks, Envelope, Registry, Reply
from actors.wire import CloseCode
from actors.store.base import MessageRow, Store

from .codec import reply_ok
from .config import Config
from .devices import DeviceDirectory
from .node_asks import AskCreatedRooms, AskFigures, CreatedRooms, NodeAsk, NodeFigures, TakeSendToken

R = TypeVar("R")

log = logging.getLogger("hubbub.cluster")

# How long a starting node waits for the nodes it was told to wait for (--wait-for-nodes)
# to be in its view: as long as a supervisor waits for its workers to listen.
NODES_WAIT_S = 60.0


class NodesNotSeen(Exception):
    """A starting node's view of the cluster did not come to hold the nodes it waits for."""


@dataclass(frozen=True, slots=True)
class PushFrame:
    """An encoded frame (an event, or a reply an actor sends on the session's behalf) for one session."""

    session: Address
    frame: bytes


@dataclass(frozen=True, slots=True)
class PushReplay:
    """A session replays the account's stored events (login with resumeFrom)."""

    session: Address
    replay: Replay


@dataclass(frozen=True, slots=True)
class PushDisconnect:
    """Close one session (a kick, a forced logout), after its event if any."""

    session: Address
    code: int
    reason: str
    event_name: str | None
    event_frame: bytes | None
    by_account: bool


@dataclass(frozen=True, slots=True)
class PushReplyMark:
    """Where the reply to the session's own request belongs among its pushes (actors/outbound.py ReplyMark)."""

    session: Address


NodeMsg = PushFrame | PushReplay | PushDisconnect | PushReplyMark


@dataclass(frozen=True, slots=True)
class DeliverEach:
    """One message for several accounts this node owns (a group message's share for it): `Deliver` to each, here.

    `to` names each account and the sending device its delivery leaves out.
    One envelope, the message encoded once, however many of the group's
    members the node owns.
    """

    message: MessageRow
    group_seq: int | None
    to: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class PushRoomFrame:
    """An event of room `room_id` for a session of the receiving node, which judges the session's queue (gateway/rooms.py)."""

    session: Address
    room_id: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class PolicyChanged(Asks[None]):
    """`by` saved a new login policy in the store: put the stored one in force.

    Answered once this node has read the store again after the ask arrived
    (so it holds that policy or a later one), or refused StorageUnavailable
    if it could not read it.
    """

    by: str


# What a node is told or asked itself (Address(NODE_KIND, node)).
NodeInbox = NodeMsg | PushRoomFrame | PolicyChanged | NodeAsk | DeliverEach


def bus_codec() -> MessageCodec:
    """The codec of every message that crosses between nodes: the actor kinds', and the node's own."""
    kinds = {"account": AccountMsg, "group": GroupMsg, "room": RoomMsg, "call": CallMsg, NODE_KIND: NodeInbox}
    return MessageCodec(kinds)


def open_bus(config: Config) -> RedisBus:
    """The bus of the node `config` names; `config.bus_url` must be set."""
    assert config.bus_url is not None
    return RedisBus(config.bus_url, config.node, bus_codec(), lease_s=config.bus_lease_s, default_ask_s=config.ask_timeout_s)


def node_of(session: Address) -> str:
    """The node that holds a session: login IDs are `{node}-{random hex}` (Services.new_id)."""
    return node_of_login(session.key)


class _EncodedEvent(DeviceEvent):
    """An event that crossed the bus as its frame: only the frame and the name are known here."""

    __slots__ = ("_name",)

    def __init__(self, name: str, frame: bytes) -> None:  # no event object: the frame is all that travelled
        self._name = name
        self._frame = frame
        self.seq = None
        self.from_user_id = None

    @property
    def name(self) -> str:
        return self._name


def _crossing(session: Address, item: Outbound) -> NodeMsg:
    """What travels for `item`: frames are encoded here, once, as the session's writer would."""
    match item:
        case bytes():
            return PushFrame(session, item)
        case DeviceEvent():
            return PushFrame(session, item.frame())
        case Answer():
            return PushFrame(session, reply_ok(item.request_id, item.result))
        case Replay():
            return PushReplay(session, item)
        case ReplyMark():
            return PushReplyMark(session)
        case Disconnect():
            event = item.event
            return PushDisconnect(
                session, item.code, item.reason, None if event is None else event.name,
                None if event is None else event.frame(), item.by_account,
            )


def _arriving(msg: NodeMsg) -> Outbound:
    match msg:
        case PushFrame():
            return msg.frame
        case PushReplay():
            return msg.replay
        case PushReplyMark():
            return REPLY_MARK
        case PushDisconnect():
            event = None if msg.event_frame is None else _EncodedEvent(msg.event_name or "", msg.event_frame)
            return Disconnect(msg.code, msg.reason, event, msg.by_account)


class Cluster:
    """This node's part in the cluster: the routing, the pushes to other nodes, membership and lease watch."""

    def __init__(self, bus: RedisBus, registry: Registry, directory: DeviceDirectory, store: Store) -> None:
        self.bus = bus
        self.store = store
        self.node = bus.node
        self.registry = registry
        self.directory = directory
        self.routing = ClusterRouting(registry, bus, for_node=self._arrived)
        directory.elsewhere = self
        bus.on_recovered = self._recover
        # Accounts a post to failed: what follows may not overtake it, so the next
        # post there asks the account to take its pending deliveries instead, in order.
        self._unsent: set[str] = set()
        self.lapsed = False
        # Sessions on other nodes that missed a push (the bus was down): nothing more
        # is sent to them until they are told to resume (1013) once it is back.
        self._missed: set[Address] = set()
        # told, when nodes left, which actors died with them (`lost(address)`)
        self.on_actors_lost: list[Callable[[Callable[[Address], bool]], None]] = []
        self.stats = {"pushed": 0, "push_refused": 0, "push_lost": 0, "moved_away": 0, "resynced": 0}
        # Puts the stored login policy in force (set by the gateway); `_reload_policy` asks for it.
        self.reload_policy: Callable[[], Awaitable[HubbubError | None]] | None = None
        self._reload_policy = trio.Event()
        self._policy_asks: list[Reply[None]] = []  # announcements the next reload answers
        # What this node answers of itself when another node asks (set by the gateway).
        self.figures: Callable[[], NodeFigures] | None = None
        self.created_rooms: Callable[[str], CreatedRooms] | None = None
        # Where an event of a room on another node goes for a session here (set by the gateway).
        self.room_event: Callable[[Address, str, bytes], Awaitable[None]] | None = None
        self.send_token: Callable[[str], bool] | None = None  # spends a token of an account this node owns

    # ---- Elsewhere: sessions on other nodes ------------------------------------

    def push(self, session: Address, item: Outbound) -> bool:
        """Queue `item` for a session another node holds; False when that node is not live or the queue is full."""
        return self._push(session, partial(_crossing, session, item))

    def push_room(self, session: Address, room_id: str, event: DeviceEvent) -> bool:
        """Queue an event of room `room_id` for a session another node holds (that node judges its queue); as `push`."""
        return self._push(session, lambda: PushRoomFrame(session, room_id, event.frame()))

    def _push(self, session: Address, crossing: Callable[[], NodeMsg | PushRoomFrame]) -> bool:
        node = node_of(session)
        if node == self.node or node not in self.bus.membership.nodes or session in self._missed:
            return False
        if not self._queue(node, crossing()):
            self.stats["push_refused"] += 1
            return False
        return True

    def _queue(self, node: str, msg: NodeMsg | PushRoomFrame) -> bool:
        """Put a node message in the bus's ordered queue (behind the answers queued before it)."""
        session = msg.session
        resync = isinstance(msg, PushDisconnect) and session in self._missed

        def wanted() -> bool:
            # queued before a miss: the device gets it when it resumes, after what it missed
            return session not in self._missed or resync

        def sent() -> None:
            self.stats["pushed"] += 1
            if resync:
                self._missed.discard(session)

        def lost() -> None:
            self.stats["push_lost"] += 1
            if not isinstance(msg, PushDisconnect):
                self._missed.add(session)  # told to resume once the bus is back

        return self.bus.tell_nowait(Outgoing(node, wanted=wanted, sent=sent, lost=lost), Address(NODE_KIND, node), msg)

    def is_connected(self, session: Address) -> bool:
        """A session of another node counts as connected while that node is live (its node reports it gone)."""
        node = node_of(session)
        return node != self.node and node in self.bus.membership.nodes

    async def announce_policy(self, timeout_s: float) -> list[str]:
        """This node saved a new login policy: ask every other live node to put it in force; the nodes that did not confirm it in time."""
        _, silent = await self.gather(PolicyChanged(self.node), lambda: None, timeout_s)
        return silent

    async def gather(self, msg: Asks[R], here: Callable[[], R], timeout_s: float) -> tuple[dict[str, R], list[str]]:
        """Ask every live node `msg` (this one answers `here()`): the answers by node, and the nodes that did not answer.

        A node that does not answer within `timeout_s` (or that the bus cannot reach) is named, not waited for.
        """
        answers: dict[str, R] = {self.node: here()}
        silent: list[str] = []

        async def ask(node: str) -> None:
            try:
                answers[node] = await self.routing.ref(Address(NODE_KIND, node)).ask(msg, timeout=timeout_s)
            except (ActorError, HubbubError) as exc:  # not reached, not in time, or refused
                log.warning("node=%s node %s did not answer %s: %s", self.node, node, type(msg).__name__, exc)
                silent.append(node)

        async with trio.open_nursery() as asking:
            for node in self.bus.membership.nodes:
                if node != self.node:
                    asking.start_soon(ask, node)
        return dict(sorted(answers.items())), sorted(silent)

    async def take_send_token(self, user_id: str, *, timeout_s: float) -> bool:
        """Spend one of the account's message tokens where its account actor lives: one budget per account in the cluster.

        Raises ActorError when that node does not answer within `timeout_s`.
        """
        assert self.send_token is not None, "the gateway sets the budgets before it serves"
        owner = self.routing.owner(Address("account", user_id))
        if owner == self.node:
            return self.send_token(user_id)
        taken: bool = await self.routing.ref(Address(NODE_KIND, owner)).ask(TakeSendToken(user_id), timeout=timeout_s)
        return taken

    def _answer(self, msg: NodeAsk) -> NodeFigures | CreatedRooms | bool:
        match msg:
            case AskFigures():
                assert self.figures is not None, "the gateway sets what a node answers before it joins"
                return self.figures()
            case AskCreatedRooms():
                assert self.created_rooms is not None, "the gateway sets what a node answers before it joins"
                return self.created_rooms(msg.user_id)
            case TakeSendToken():
                assert self.send_token is not None, "the gateway sets what a node answers before it joins"
                return self.send_token(msg.user_id)

    async def _arrived(self, envelope: Envelope[Any]) -> None:
        msg = envelope.msg
        if isinstance(msg, AskFigures | AskCreatedRooms | TakeSendToken):
            if envelope.reply is not None:
                envelope.reply.set(self._answer(msg))
            return
        if isinstance(msg, DeliverEach):
            for user_id, exclude in msg.to:  # to its owner: here, unless the membership moved it since
                await self.post_account(user_id, Deliver(msg.message, msg.group_seq, exclude))
            return
        if isinstance(msg, PolicyChanged):
            log.info("node=%s login policy changed through node %s: reloading it", self.node, msg.by)
            if envelope.reply is not None:
                self._policy_asks.append(envelope.reply)
            self._reload_policy.set()
            return
        if isinstance(msg, PushRoomFrame):
            assert self.room_event is not None, "the gateway sets where room events go before it joins"
            await self.room_event(msg.session, msg.room_id, msg.frame)
            return
        if isinstance(msg, PushDisconnect):
            # A stop does not wait for queued frames. On one node the session's
            # writer runs between two actor steps, so a login reply queued before
            # a kick goes out first; entries read together from the bus come
            # back to back, so let the writer take what is queued (half a second at most).
            with trio.move_on_after(0.5):
                while self.directory.queued(msg.session):  # noqa: ASYNC110 - a memory channel announces no "drained"
                    await trio.sleep(0.001)
        if isinstance(msg, PushFrame | PushReplay | PushDisconnect | PushReplyMark):
            self.directory.push_here(msg.session, _arriving(msg))

    async def until_view_holds(self, names: str) -> None:
        """Return once this node's view holds the comma-separated `names`; NodesNotSeen after NODES_WAIT_S."""
        nodes = {name.strip() for name in names.split(",") if name.strip()}
        with trio.move_on_after(NODES_WAIT_S):
            await self.bus.until_view_holds(nodes)
            log.info("node=%s sees %s: listening", self.node, ",".join(sorted(nodes)))
            return
        missing = sorted(nodes - set(self.bus.membership.nodes))
        raise NodesNotSeen(f"node {self.node} did not see {', '.join(missing)} join the cluster within {NODES_WAIT_S:.0f} s")

    # ---- the node's tasks -------------------------------------------------------

    async def run(self, stop: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Carry pushes, follow the membership, and set `stop` when the lease lapses. Runs until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._follow_membership)
            nursery.start_soon(self._follow_policy)
            task_status.started()
            await self.bus.lapsed.wait()
            self.lapsed = True
            log.error("node=%s lease lapsed: stopping; its devices reconnect to the other nodes", self.node)
            stop.set()

    async def _follow_policy(self) -> None:
        """Put the stored policy in force each time another node announces one (announcements close together: once).

        Each announcement is answered after a reload that began once it had
        arrived: its policy, or a later one, is in force here by then.
        """
        while True:
            await self._reload_policy.wait()
            self._reload_policy = trio.Event()
            asks, self._policy_asks = self._policy_asks, []
            assert self.reload_policy is not None, "the gateway sets how to reload the policy before it joins"
            refusal = await self.reload_policy()
            for reply in asks:
                if refusal is None:
                    reply.set(None)
                else:
                    reply.fail(refusal)

    async def _wake_pending(self) -> None:
        """Tell the accounts this node owns that have deliveries pending to take them (the lost node's among them).

        What was posted but never arrived (a lost node's, or lost with Redis)
        waits in the store for its receiver; RecoverDeliveries takes it, and
        a repeat of what did arrive is refused by the store (AlreadyDelivered).
        """
        try:
            users = await self.store.users_with_pending_deliveries()
        except StorageUnavailable as exc:  # the next change, or the next message, wakes them
            log.warning("node=%s could not read the pending deliveries: %s", self.node, exc)
            return
        for user_id in users:
            address = Address("account", user_id)
            if self.routing.owns(address):
                # One not running here takes them as it starts (it reads whether any
                # wait): waking it is enough, and it reads them once, not twice.
                await self.registry.post(address, RecoverDeliveries() if self.registry.is_live(address) else Wake())

    async def _drop_devices_of(self, nodes: tuple[str, ...]) -> None:
        """The accounts, rooms and calls this node holds let go of the devices the lost nodes served.

        An account here records them offline (reason "lost") and tells its
        other devices, as its start would, without a restart. Rooms and calls
        live in memory on their owner: those of the lost nodes are gone with
        them (a room starts empty on its new owner, as after a restart of a
        lone server); those here keep their state, less the lost devices.
        """
        kinds = (("account", AccountNodesLeft(nodes)), ("room", RoomNodesLeft(nodes)), ("call", CallNodesLeft(nodes)))
        for kind, msg in kinds:
            for address in self.registry.live_addresses(kind):
                await self.registry.post(address, msg)

    async def post_account(self, user_id: str, msg: object) -> None:
        """Tell an account actor (from another actor), keeping order past a post the bus lost.

        Every such post is outbox-backed (a delivery, events, a notice): when
        one is lost, the receiver later takes it from the store, and later
        posts are replaced by RecoverDeliveries until one gets through, so
        nothing overtakes what was lost.
        """
        address = Address("account", user_id)
        if user_id in self._unsent:
            msg = RecoverDeliveries()
        if await self.routing.post_or_fail(address, msg):
            self._unsent.discard(user_id)
        else:
            self._unsent.add(user_id)

    async def post_deliveries(self, message: MessageRow, group_seq: int | None, to: list[tuple[str, str | None]]) -> None:
        """`Deliver` one message to many accounts: those owned here one by one, each other node's share in one envelope.

        Like `post_account`, in order past a lost post: an account a post to
        failed gets RecoverDeliveries instead, and when a share's envelope is
        lost, each of its accounts takes the message from the store later.
        """
        shares: dict[str, list[tuple[str, str | None]]] = {}
        for user_id, exclude in to:
            owner = self.routing.owner(Address("account", user_id))
            if owner == self.node or user_id in self._unsent:
                await self.post_account(user_id, Deliver(message, group_seq, exclude))
            else:
                shares.setdefault(owner, []).append((user_id, exclude))
        for node, share in shares.items():
            if len(share) == 1:
                await self.post_account(share[0][0], Deliver(message, group_seq, share[0][1]))
            elif not await self.routing.post_or_fail(Address(NODE_KIND, node), DeliverEach(message, group_seq, tuple(share))):
                self._unsent.update(user_id for user_id, _ in share)

    async def _recover(self) -> None:
        """Redis answers again after an outage: resync the devices, then have the accounts take what was lost."""
        log.info("node=%s bus back: devices that may have missed events resume; accounts take lost deliveries", self.node)
        self._resync_sessions()
        self._reload_policy.set()  # an announcement may have been lost with Redis
        await self._wake_pending()

    def _resync_sessions(self) -> None:
        """After an outage, every device whose events may have been lost on the way resumes (close 1013).

        That is each session here whose account lives on another node (what
        Redis held for this node's inbox may be gone), and each session
        elsewhere that a push from here missed. The devices reconnect with
        resumeFrom and get what they missed from the stream, once.
        """
        resume = Disconnect(CloseCode.SLOW_CONSUMER, "events between nodes were lost: resume", None, by_account=False)
        for _, session in self.directory.by_address():
            if session.user_id is not None and not self.routing.owns(Address("account", session.user_id)):
                session.offer(resume)
                self.stats["resynced"] += 1
        for address in self._missed:
            # pushes to it stay refused until this goes out
            if not self._queue(node_of(address), _crossing(address, resume)):
                break  # the next recovery tells the rest
            self.stats["resynced"] += 1

    async def _follow_membership(self) -> None:
        known = tuple(self.bus.membership.nodes)
        while True:
            await self.bus.changed.wait()
            live = set(self.bus.membership.nodes)
            before, known = known, tuple(self.bus.membership.nodes)
            left = set(before) - live
            if left:
                lost = partial(_lost_with, before, frozenset(left))
                for tell in self.on_actors_lost:
                    tell(lost)
                # Only the actors whose owner changed move: a node leaving moves none of
                # those that stay here. Devices on the nodes that left are gone: the
                # accounts, rooms and calls here drop them (`_drop_devices_of`).
                moved = self.registry.retire_where(lambda address: not self.routing.owns(address))
                await self._drop_devices_of(tuple(sorted(left)))
                await self._wake_pending()
            else:
                moved = self.registry.retire_where(lambda address: not self.routing.owns(address))
            if moved:
                self.stats["moved_away"] += moved
                log.info("node=%s membership version=%d: %d actors moved to other nodes", self.node, self.bus.membership.version, moved)


def _lost_with(before: tuple[str, ...], left: frozenset[str], address: Address) -> bool:
    """Whether `address` lived, under the membership `before`, on one of the nodes that left."""
    return owner_of(address, before) in left


def statistics(cluster: Cluster | None) -> dict[str, Any]:
    """The cluster figures of a gateway's live statistics (empty for a lone server)."""
    if cluster is None:
        return {}
    return {
        "node": cluster.node,
        "membership_version": cluster.bus.membership.version,
        "nodes": list(cluster.bus.membership.nodes),
        **cluster.stats,
        **{f"bus_{k}": v for k, v in cluster.bus.stats.items()},
    }
