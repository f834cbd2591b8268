"""The bus between nodes on Redis (coredis, which runs on trio): envelopes, answers, membership leases.

Keys, under a prefix shared by the nodes of one cluster (`hubbub` by default):

    {prefix}:inbox:{node}   a stream per node: envelopes for its actors and
                            answers to its asks, read in order by one task
    {prefix}:members        sorted set: node -> lease expiry, on Redis's clock (ms)
    {prefix}:live           the live set last seen; {prefix}:version counts its changes
    {prefix}:left           nodes that left cleanly (their actors move at once)
    {prefix}:incarnation    a token set once per Redis life: a new one means it restarted empty

Each node renews its lease every `lease_s / 3` (at least once a second, so
that it sees a change soon) with one script that also drops expired leases
and bumps the version when the live set changed. The node whose renewal
changed it (it joined, left, or dropped an expired lease) nudges the others
(an entry `t=n` in their inboxes), which renew at once: a node that joins is
in every view within a round trip, not a second later. A node leaves the view as
soon as Redis dropped its expired lease, if that Redis is the one that saw
it live; a node last seen live in an earlier Redis stays until a lease
after it was seen (see `_view`): a Redis that restarted empty forgets the
leases, not the nodes holding them. A node that could not
renew within `lease_s` of its last renewal (Redis unreachable, the process
paused) has lapsed: the others may already have taken its actors, so
`lapsed` is set and the node must stop its actors (the store's ownership
epochs refuse whatever a stale one still tries to write).

After an outage (a failed command, or a Redis that restarted empty) the
envelopes sent into it or held by it are gone: the inbox reader awaits
`on_recovered` before it handles anything read since, so the node can
resync its devices and have its actors take what is durable first.

An ask carries a correlation id and its deadline; the owner answers on the
asker's inbox. Streams are trimmed (`max_inbox` entries), Redis may restart
empty, a node may die with envelopes unread: the bus may drop or repeat an
envelope, and everything durable goes through the store and its outbox.
A repeated answer finds no pending ask and is ignored.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import coredis
import trio
from coredis.exceptions import RedisError
from coredis.retry import NoRetryPolicy

from ..runtime import ActorUnavailable, Address, Envelope, Reply
from .codec import MessageCodec, UnknownMessage
from .placement import Membership, home_of
from .redis_pool import SlotKeepingPool

log = logging.getLogger("hubbub.bus")

T = TypeVar("T")

_WRITE_MAX = 256  # queued entries sent in one pipelined write at most

# KEYS: members, live, version, left, incarnation. ARGV: node, lease in ms (0: leave), a fresh token.
# Returns {version, live nodes sorted, nodes that left cleanly, this Redis's incarnation token,
# 1 if this call changed the live set (else 0)}.
_MEMBERSHIP_SCRIPT = """
redis.call('SET', KEYS[5], ARGV[3], 'NX')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
if lease > 0 then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('SREM', KEYS[4], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('SADD', KEYS[4], ARGV[1])
  redis.call('PEXPIRE', KEYS[4], 600000)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(live)
local joined = table.concat(live, ',')
local changed = 0
if redis.call('GET', KEYS[2]) ~= joined then
  redis.call('SET', KEYS[2], joined)
  redis.call('INCR', KEYS[3])
  changed = 1
end
return {tonumber(redis.call('GET', KEYS[3])), live, redis.call('SMEMBERS', KEYS[4]), redis.call('GET', KEYS[5]), changed}
"""

Receiver = Callable[[Address, Envelope[Any]], Awaitable[None]]


@dataclass(slots=True)
class Outgoing:
    """One entry for another node's inbox, sent in queue order by the bus (`tell_nowait`).

    `wanted` is asked just before sending (False: dropped); `sent` and `lost`
    are told how it went. None of them may await.
    """

    node: str
    fields: dict[str, bytes | str | int | float] = field(default_factory=dict)
    wanted: Callable[[], bool] | None = None
    sent: Callable[[], None] | None = None
    lost: Callable[[], None] | None = None


class BusUnavailable(ActorUnavailable):
    """Redis could not carry the envelope (unreachable, or too slow to answer)."""


@dataclass(slots=True)
class _Carried:
    """How the entry of one awaited send went: `done` is set once it went out or was lost (`failure` says why)."""

    done: trio.Event = field(default_factory=trio.Event)
    waiting: bool = True  # its sender still waits: once it gave up, the entry is not sent
    failure: str | None = None

    def wanted(self) -> bool:
        return self.waiting

    def lost(self) -> None:
        self.failure = "bus: the write that carried it failed"
        self.done.set()


@dataclass(slots=True)
class _Pending:
    reply: Reply[Any]
    asked: type
    address: Address
    deadline: float  # trio time after which nobody waits for the answer


class RedisBus:
    """One node's end of the bus. Run it with `nursery.start(bus.run)`; it leaves the membership when cancelled.

    `receiver` is called, in arrival order, for every envelope that reaches
    this node (`attach` sets it); it must not block for long (the node's
    routing posts into inboxes without waiting). `membership` is this node's
    current view; `changed` is set (and replaced) on every change of it.
    """

    def __init__(
        self,
        url: str,
        node: str,
        codec: MessageCodec,
        *,
        lease_s: float = 10.0,
        prefix: str = "hubbub",
        max_inbox: int = 100_000,
        op_timeout_s: float = 5.0,
        default_ask_s: float = 30.0,
    ) -> None:
        if not node or "," in node:
            raise ValueError(f"a node name is non-empty and has no comma: {node!r}")
        self.url = url
        self.node = node
        self.codec = codec
        self.lease_s = lease_s
        self.prefix = prefix
        # 100,000 envelopes: minutes of traffic for a node that reads them in
        # order as they come; a node so far behind has lapsed anyway.
        self.max_inbox = max_inbox
        self.op_timeout_s = op_timeout_s
        self.default_ask_s = default_ask_s
        self.membership = Membership(0, ())
        self.changed = trio.Event()
        self.lapsed = trio.Event()
        self.receiver: Receiver | None = None
        # No silent retries: a command that met a lost connection must say so,
        # for a reconnect may land on a Redis that restarted empty (see _up).
        self._client: coredis.Redis[bytes] = coredis.Redis(
            decode_responses=False, retry_policy=NoRetryPolicy(), connection_pool=SlotKeepingPool.from_url(url, decode_responses=False)
        )
        # Awaited by the inbox reader when Redis answers again after an outage,
        # before any entry read since is handled (what arrived later must not
        # overtake what the outage lost).
        self.on_recovered: Callable[[], Awaitable[None]] | None = None
        self._resync_due = False  # an outage happened since on_recovered last ran
        self._pending: dict[bytes, _Pending] = {}
        self._seen: dict[str, float] = {}  # node -> trio time this node last saw it live
        self._seen_in_this_redis: set[str] = set()  # nodes seen live since the current Redis incarnation began
        self._incarnation: bytes | None = None  # the token of the Redis instance last renewed with
        self._renewed_at = -math.inf  # trio time the last successful renewal was sent
        self._nudged = trio.Event()  # another node changed the live set: renew now
        self._client_open = False  # while `run` runs: sends from other tasks after it ended are refused
        self._redis_down = False  # logged once per outage
        # One ordered queue for what a node's actors send on without waiting:
        # answers (queued the moment the actor answers) and node messages
        # (pushes to devices), so a device hears its login reply before the
        # kick that followed it. 10,000 entries; past that a push is refused
        # like a slow device's, and an answer is lost (its asker times out).
        self._out_send, self._out_receive = trio.open_memory_channel[Outgoing](10_000)
        self.stats = {"sent": 0, "received": 0, "answered": 0, "dropped_answers": 0, "undecodable": 0}

    def attach(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def holds_lease(self) -> bool:
        """Whether this node's lease surely still runs (renewed within `lease_s`); never awaits.

        False from the moment a pause or an outage could have let it expire,
        before the lease task wakes to notice: a node checks it before it
        lets a message reach one of its actors.
        """
        return not self.lapsed.is_set() and trio.current_time() - self._renewed_at <= self.lease_s

    def inbox_key(self, node: str) -> str:
        return f"{self.prefix}:inbox:{node}"

    async def run(self, *, task_status: trio.TaskStatus[RedisBus] = trio.TASK_STATUS_IGNORED) -> None:
        """Join the membership, then carry envelopes until cancelled (leaving the membership then).

        Raises BusUnavailable at once when Redis cannot be reached at start.
        """
        try:
            async with self._client:
                self._client_open = True
                try:
                    await self._start_and_carry(task_status)
                finally:
                    self._client_open = False
                    self._lose_queued()
        finally:
            if self.membership.nodes:
                with trio.move_on_after(2, shield=True):
                    await self._leave()

    async def _start_and_carry(self, task_status: trio.TaskStatus[RedisBus]) -> None:
        try:
            await self._redis(self._client.delete([self.inbox_key(self.node)]))  # envelopes of a former life
            await self._renew()
        except (RedisError, trio.TooSlowError) as exc:
            raise BusUnavailable(Address("node", self.node), f"cannot reach Redis at {self.url}: {exc}") from None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._carry_out, name=f"bus out {self.node}")
            nursery.start_soon(self._keep_lease, name=f"bus lease {self.node}")
            nursery.start_soon(self._read_inbox, name=f"bus inbox {self.node}")
            nursery.start_soon(self._expire_asks, name=f"bus asks {self.node}")
            task_status.started(self)

    async def send(self, node: str, address: Address, envelope: Envelope[Any], membership_version: int) -> None:
        """Carry `envelope` to `node` for the actor at `address`; an ask's answer arrives later in its Reply.

        Returns once Redis holds the envelope. It goes out in the node's one
        ordered queue, in the same pipelined write as whatever else is queued
        by then (one round trip for many asks, answers and pushes). Raises
        BusUnavailable when Redis does not take it within `op_timeout_s`,
        UnknownMessage for a message the codec does not know.
        """
        await self._send(node, address, envelope, membership_version, hops=0)

    async def _send(self, node: str, address: Address, envelope: Envelope[Any], version: int, hops: int) -> None:
        fields: dict[str, bytes | str | int | float] = {
            "t": "e", "k": address.kind, "a": address.key, "v": version, "h": hops,
            "m": self.codec.encode(envelope.msg),
        }
        correlation = b""
        if envelope.reply is not None:
            correlation = secrets.token_hex(8).encode()
            deadline = trio.current_effective_deadline()
            if math.isinf(deadline):
                deadline = trio.current_time() + self.default_ask_s
            self._pending[correlation] = _Pending(envelope.reply, type(envelope.msg), address, deadline)
            fields |= {"c": correlation, "f": self.node, "d": max(0.0, deadline - trio.current_time())}
        try:
            await self._carried(Outgoing(node, fields))
        except BaseException:
            self._pending.pop(correlation, None)
            raise

    async def _carried(self, outgoing: Outgoing) -> None:
        """Queue `outgoing` (waiting while the queue is full) and return once Redis holds it.

        Raises BusUnavailable when the write that carried it failed, when the
        bus has stopped, or when neither happened within `op_timeout_s`. A
        sender that gives up (cancelled, timed out) before its entry went
        out has it dropped from the queue.
        """
        if not self._client_open:  # a session or actor still ending after the node's bus stopped
            raise BusUnavailable(Address("node", outgoing.node), "bus: this node's bus has stopped")
        outcome = _Carried()
        outgoing.wanted, outgoing.sent, outgoing.lost = outcome.wanted, outcome.done.set, outcome.lost
        try:
            with trio.fail_after(self.op_timeout_s):
                await self._out_send.send(outgoing)
                await outcome.done.wait()
        except trio.TooSlowError:
            raise BusUnavailable(Address("node", outgoing.node), f"bus: not carried within {self.op_timeout_s}s") from None
        finally:
            outcome.waiting = False
        if outcome.failure is not None:
            raise BusUnavailable(Address("node", outgoing.node), outcome.failure)

    async def forward(self, address: Address, envelope: Envelope[Any], hops: int) -> None:
        """Send on an envelope that reached a node which does not own `address` (by its newer view)."""
        owner = home_of(address, self.membership.nodes)
        await self._send(owner, address, envelope, self.membership.version, hops)

    async def _redis(self, request: Awaitable[T]) -> T:
        """One Redis command within `op_timeout_s` (trio.TooSlowError past it)."""
        with trio.fail_after(self.op_timeout_s):
            return await request

    async def _renew(self, lease_s: float | None = None, client: coredis.Redis[bytes] | None = None) -> None:
        sent_at = trio.current_time()
        lease_ms = int((self.lease_s if lease_s is None else lease_s) * 1000)
        answer: Any = await self._redis((client or self._client).eval(
            _MEMBERSHIP_SCRIPT,
            keys=[
                f"{self.prefix}:members", f"{self.prefix}:live", f"{self.prefix}:version", f"{self.prefix}:left",
                f"{self.prefix}:incarnation",
            ],
            args=[self.node, lease_ms, secrets.token_hex(8)],
        ))
        version, live, left, incarnation, changed = answer
        self._renewed_at = sent_at
        if self._incarnation is not None and incarnation != self._incarnation:
            # Redis restarted empty (its client may have reconnected without an
            # error): whatever its streams held is gone, as after an outage.
            log.warning("node=%s Redis restarted: envelopes it held are lost", self.node)
            self._resync_due = True
            self._seen_in_this_redis.clear()  # their leases are forgotten, not expired
        self._incarnation = incarnation
        self._view(int(version), {_text(n) for n in live}, {_text(n) for n in left})
        if changed:
            await self._nudge_others({_text(n) for n in live} - {self.node}, client or self._client)

    async def _nudge_others(self, nodes: set[str], client: coredis.Redis[bytes]) -> None:
        """Have `nodes` renew at once: the live set just changed. Best effort: each renews within a second anyway."""
        if not nodes:
            return
        try:
            with trio.fail_after(self.op_timeout_s):
                async with client.pipeline(transaction=False) as pipe:
                    for node in sorted(nodes):
                        pipe.xadd(
                            self.inbox_key(node), {"t": "n"}, trim_strategy=coredis.PureToken.MAXLEN,
                            threshold=self.max_inbox, trim_operator=coredis.PureToken.APPROXIMATELY,
                        )
        except (RedisError, trio.TooSlowError) as exc:
            log.warning("node=%s could not tell the others the live set changed (they see it at their next renewal): %s", self.node, exc)

    def _view(self, version: int, live: set[str], left: set[str]) -> None:
        """This node's membership from what Redis said: the live nodes, and those that may still hold a lease.

        A node missing from the live set that this Redis saw live has let its
        lease expire on Redis's clock; it had stopped its actors by then (a
        node lapses `lease_s` after it sent its last renewal, before Redis
        received it), so it goes at once, and the store's ownership epochs
        refuse whatever a stale one still tries to write. A node last seen
        live in an earlier Redis (it restarted empty) may still hold its
        lease and not have renewed yet: it stays until a lease after this
        node last saw it, so no actor gets a second owner while its first
        may still run. A node that left cleanly goes at once.
        """
        now = trio.current_time()
        for node in live:
            self._seen[node] = now
        self._seen_in_this_redis |= live
        for node in (left | self._seen_in_this_redis) - live:
            self._seen.pop(node, None)
        self._seen_in_this_redis &= live
        for node in [n for n, seen in self._seen.items() if now - seen > self.lease_s]:
            del self._seen[node]
        nodes = tuple(sorted(self._seen))
        if nodes != self.membership.nodes:
            self.membership = Membership(version, nodes)
            log.info("node=%s membership version=%d nodes=%s", self.node, version, ",".join(nodes))
            changed, self.changed = self.changed, trio.Event()
            changed.set()

    async def until_view_holds(self, nodes: set[str]) -> None:
        """Return once this node's view of the membership holds every one of `nodes` (the caller bounds the wait)."""
        while not nodes <= set(self.membership.nodes):
            await self.changed.wait()

    async def _leave(self) -> None:
        # A client of its own: the node's is being torn down with the node's tasks.
        try:
            async with coredis.Redis.from_url(self.url, decode_responses=False) as client:
                await self._renew(lease_s=0, client=client)
        except (RedisError, trio.TooSlowError) as exc:
            log.warning("node=%s could not leave the membership (its lease will expire): %s", self.node, exc)

    async def _keep_lease(self) -> None:
        while True:
            with trio.move_on_at(_next_tick(min(self.lease_s / 3, 1.0))):
                await self._nudged.wait()
            self._nudged = trio.Event()
            if trio.current_time() - self._renewed_at > self.lease_s:
                self._lapse()
                return
            try:
                await self._renew()
                self._up()  # also after a restart that _renew noticed
            except (RedisError, trio.TooSlowError) as exc:
                self._down(exc)
            if trio.current_time() - self._renewed_at > self.lease_s:
                self._lapse()
                return

    def _lapse(self) -> None:
        log.error("node=%s lease lapsed (no renewal for more than %ss): its actors must stop", self.node, self.lease_s)
        self.lapsed.set()

    def _down(self, exc: BaseException) -> None:
        self._resync_due = True
        if not self._redis_down:
            log.warning("node=%s Redis unreachable: %s", self.node, exc)
            self._redis_down = True

    def _up(self) -> None:
        if self._redis_down:
            log.info("node=%s Redis reachable again", self.node)
            self._redis_down = False

    async def _read_inbox(self) -> None:
        key = self.inbox_key(self.node)
        last: str | bytes = b"0-0"  # the stream was emptied at start: everything in it is for this life
        backoff_s = 0.05
        while True:
            try:
                with trio.fail_at(_next_tick(1.0) + self.op_timeout_s):
                    found = await self._client.xread({key: last}, count=256, block=1000)
                backoff_s = 0.05
                self._up()
            except trio.TooSlowError:
                # Slow is not lost: the stream keeps what came meanwhile and the
                # next read starts at `last`. Whether Redis is down (its entries
                # may be gone) is the renewals' call: they fail then too.
                continue
            except RedisError as exc:
                self._down(exc)
                await trio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 1.0)
                continue
            if self._resync_due:
                self._resync_due = False
                if self.on_recovered is not None:
                    await self.on_recovered()
            for entries in (found or {}).values():
                for entry in entries:
                    last = entry.identifier
                    await self._arrived({_bytes(k): _bytes(v) for k, v in entry.field_values.items()})

    async def _arrived(self, fields: Mapping[bytes, bytes]) -> None:
        try:
            if fields.get(b"t") == b"r":
                self._answer_arrived(fields)
            elif fields.get(b"t") == b"n":
                self._nudged.set()
            else:
                await self._envelope_arrived(fields)
        except (UnknownMessage, KeyError, ValueError) as exc:
            self.stats["undecodable"] += 1
            log.warning("node=%s dropped an undecodable bus entry: %s", self.node, exc)

    def _answer_arrived(self, fields: Mapping[bytes, bytes]) -> None:
        pending = self._pending.pop(fields[b"c"], None)
        if pending is None:
            self.stats["dropped_answers"] += 1  # repeated, or its asker gave up
            return
        try:
            value = self.codec.decode_answer(pending.asked, pending.address, fields[b"m"])
        except Exception as refusal:  # the refusal the answer carries, for the asker to raise
            if not pending.reply.is_set:
                pending.reply.fail(refusal)
            return
        if not pending.reply.is_set:
            pending.reply.set(value)

    async def _envelope_arrived(self, fields: Mapping[bytes, bytes]) -> None:
        address = Address(fields[b"k"].decode(), fields[b"a"].decode())
        msg = self.codec.decode(fields[b"m"])
        hops = int(fields[b"h"])
        self.stats["received"] += 1
        reply: Reply[Any] | None = None
        correlation = fields.get(b"c")
        if correlation:
            reply = _RemoteReply(self, fields[b"f"].decode(), correlation, address)
        envelope: Envelope[Any] = Envelope(msg, reply)
        if home_of(address, self.membership.nodes or (self.node,)) != self.node:
            if hops < 2:
                await self._forward_quietly(address, envelope, hops + 1)
                return
            if reply is not None:
                reply.fail(ActorUnavailable(address, "the nodes disagree on its owner"))
            return
        assert self.receiver is not None, "a node attaches its receiver before envelopes arrive"
        await self.receiver(address, envelope)

    async def _forward_quietly(self, address: Address, envelope: Envelope[Any], hops: int) -> None:
        try:
            await self.forward(address, envelope, hops)
        except BusUnavailable as exc:
            if envelope.reply is not None and not envelope.reply.is_set:
                envelope.reply.fail(exc)

    def answer_now(self, asker: str, correlation: bytes, address: Address, outcome: object, failed: bool) -> None:
        """Queue the answer to a remote ask, in order with what the node sends on after it. Never blocks."""
        try:
            body = self.codec.encode_failure(outcome) if failed and isinstance(outcome, BaseException) else self.codec.encode_answer(outcome)
        except UnknownMessage as exc:
            log.error("actor=%s answer cannot cross the bus: %s", address, exc)
            body = self.codec.encode_failure(exc)
        if not self.tell_fields_nowait(Outgoing(asker, {"t": "r", "c": correlation, "m": body})):
            log.warning("actor=%s answer to node=%s lost: the outgoing queue is full", address, asker)

    def tell_nowait(self, outgoing: Outgoing, address: Address, msg: object) -> bool:
        """Queue a tell to `address` on `outgoing.node`, in order with the answers; False when the queue is full."""
        outgoing.fields = {"t": "e", "k": address.kind, "a": address.key, "v": self.membership.version, "h": 0, "m": self.codec.encode(msg)}
        return self.tell_fields_nowait(outgoing)

    def tell_fields_nowait(self, outgoing: Outgoing) -> bool:
        try:
            self._out_send.send_nowait(outgoing)
        except trio.WouldBlock:
            return False
        return True

    async def _carry_out(self) -> None:
        """Send the queued entries in order: what is queued at the moment goes in one write (a pipeline of XADDs).

        One round trip per write rather than per entry. A write that fails
        loses every entry in it (some may have reached Redis: a repeat,
        which the bus allows); none of them counts as sent.
        """
        async for first in self._out_receive:
            batch = [first, *self._more_outgoing(_WRITE_MAX - 1)]
            batch = [outgoing for outgoing in batch if outgoing.wanted is None or outgoing.wanted()]
            if not batch:
                continue
            try:
                await self._xadd_all(batch)
            except BusUnavailable as exc:
                log.warning("node=%s %d entries lost: %s", self.node, len(batch), exc)
                for outgoing in batch:
                    if outgoing.lost is not None:
                        outgoing.lost()
                continue
            for outgoing in batch:
                self.stats["answered" if outgoing.fields.get("t") == "r" else "sent"] += 1
                if outgoing.sent is not None:
                    outgoing.sent()

    def _lose_queued(self) -> None:
        """The bus stopped: what is still queued is lost (its senders hear so at once)."""
        for outgoing in self._more_outgoing(math.inf):
            if outgoing.lost is not None:
                outgoing.lost()

    def _more_outgoing(self, most: float) -> list[Outgoing]:
        """Up to `most` more entries already queued, in order; never waits."""
        more: list[Outgoing] = []
        while len(more) < most:
            try:
                more.append(self._out_receive.receive_nowait())
            except trio.WouldBlock:
                break
        return more

    async def _xadd_all(self, batch: list[Outgoing]) -> None:
        """XADD each entry to its node's inbox, in order, in one pipelined write."""
        if not self._client_open:  # a session or actor still ending after the node's bus stopped
            raise BusUnavailable(Address("node", batch[0].node), "bus: this node's bus has stopped")
        try:
            with trio.fail_after(self.op_timeout_s):
                async with self._client.pipeline(transaction=False) as pipe:
                    for outgoing in batch:
                        pipe.xadd(
                            self.inbox_key(outgoing.node), dict(outgoing.fields),
                            trim_strategy=coredis.PureToken.MAXLEN, threshold=self.max_inbox,
                            trim_operator=coredis.PureToken.APPROXIMATELY,
                        )
        except (RedisError, trio.TooSlowError) as exc:
            self._down(exc)
            raise BusUnavailable(Address("node", batch[0].node), f"bus: {exc}") from None

    async def _expire_asks(self) -> None:
        """Forget asks whose asker gave up (its own timeout answered it), so the table stays bounded."""
        while True:
            await trio.sleep_until(_next_tick(1.0))
            now = trio.current_time()
            for correlation in [c for c, p in self._pending.items() if p.deadline < now]:
                del self._pending[correlation]


def _next_tick(period: float) -> float:
    """The next multiple of `period` in trio time: after now, at most `period` from now.

    The bus's periodic waits (renewals, ask expiry, the inbox read's
    timeout) end on such ticks, so they end together: one wakeup of the
    process for all of them and for every node it runs (in-process test
    clusters, whose mock clock then jumps once a period, not once per timer).
    """
    return (math.floor(trio.current_time() / period) + 1) * period


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class _RemoteReply(Reply[Any]):
    """The reply slot of an ask from another node: answering it queues the answer at once, in order."""

    __slots__ = ("_bus", "_asker", "_correlation", "_address")

    def __init__(self, bus: RedisBus, asker: str, correlation: bytes, address: Address) -> None:
        super().__init__()
        self._bus, self._asker, self._correlation, self._address = bus, asker, correlation, address

    def set(self, value: Any) -> None:
        super().set(value)
        self._bus.answer_now(self._asker, self._correlation, self._address, value, failed=False)

    def fail(self, error: BaseException) -> None:
        super().fail(error)
        self._bus.answer_now(self._asker, self._correlation, self._address, error, failed=True)
