"""Registry: spawn actors on demand, supervise and restart them, retire idle ones.

Idle retirement costs nothing per message: an actor only notes when it last
handled one. One sweeper task keeps every live actor in a heap by the time
it could first be idle, and when that time comes and nothing arrived since,
it puts a CheckIdle in the actor's inbox; the actor retires on it if it is
still idle and its inbox is empty. (A timeout around every inbox wait cost a
cancel scope and a deadline per message, about a sixth of an actor's work.)

Ownership: for the kinds added with `claimed=True` (those that write to the
store) the registry claims each actor through `claim` before its `start`,
every time it starts, and the actor fences its writes with that epoch. When
a write meets OwnershipLost another node has taken the actor over: the
actor is stopped, not restarted (it would claim the actor back), the
request it was handling and those queued get the error, and the address is
retired, so a later message spawns (and claims) it afresh where placement
sends it.

An actor that cannot start (the store unreachable) is retired too, and the
messages told to it are dropped with it, as is a told message it crashed on
just before. Those an actor is told by others are durable elsewhere (the
outbox), but nothing would start it again to take them: `on_tells_lost`
hears of each such address, so its owner can start it once the store is back.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio

from ..errors import OwnershipLost
from ..wire.errors import HubbubError, Internal, StorageUnavailable
from .actor import Actor
from .address import Address
from .errors import ActorCrashed, ActorUnavailable
from .mailbox import Envelope, Reply
from .ref import ActorRef

log = logging.getLogger("hubbub.actors")

Factory = Callable[[Address], Actor[Any]]
# Whether a message may start an actor of its kind that is not live: None lets it, else the refusal its asker gets.
Opener = Callable[[Address, object], HubbubError | None]
# Take an actor over for this node; its new ownership epoch (see store.base.OwnershipStore).
Claim = Callable[[Address], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class CrashNext:
    """Runtime message: the actor's next message raises (a test-only hook)."""


@dataclass(frozen=True, slots=True)
class CheckIdle:
    """Runtime message from the idle sweeper: retire if nothing happened for idle_after_s."""


@dataclass(slots=True)
class _Slot:
    send: trio.MemorySendChannel[Envelope[Any]]
    receive: trio.MemoryReceiveChannel[Envelope[Any]]
    actor: Actor[Any] | None = None
    current: Envelope[Any] | None = None
    crashes: deque[float] = field(default_factory=deque)
    tell_lost: bool = False  # it crashed on a told message: that one is gone unless the restart takes it from storage
    last_active: float = 0.0  # trio time the actor last started or handled a message


class Registry:
    """Local home of actors: one inbox per address, one supervised task per actor.

    `deliver` spawns the actor on first use. An actor that raises is logged
    and restarted from storage on the same inbox, so queued messages
    survive; after `max_crashes` within `crash_window_s` it is given up on.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        factories: Mapping[str, Factory],
        *,
        idle_after_s: float = 300.0,
        inbox_size: int = 256,
        max_crashes: int = 5,
        crash_window_s: float = 30.0,
        allow_crash_hook: bool = False,
        claim: Claim | None = None,
    ) -> None:
        self._nursery = nursery
        self._factories = dict(factories)
        self._claim = claim
        self._claimed_kinds: set[str] = set()
        self._openers: dict[str, Opener] = {}
        self._idle_after_s = idle_after_s
        # 256 messages: enough to absorb a burst from many devices of one
        # account; a fuller inbox blocks the senders (socket readers), which
        # is the backpressure we want.
        self._inbox_size = inbox_size
        self._max_crashes = max_crashes
        self._crash_window_s = crash_window_s
        self._allow_crash_hook = allow_crash_hook
        self._slots: dict[Address, _Slot] = {}
        # Posts that met a full inbox wait here for the courier, so that an
        # actor posting to another actor never blocks on it (two actors
        # blocked on each other's full inbox would deadlock). 10,000 small
        # envelopes at most; past that, posting blocks like tell().
        self._courier_send, self._courier_receive = trio.open_memory_channel[tuple[Address, Envelope[Any]]](10_000)
        self._couriered = Counter[Address]()
        nursery.start_soon(self._courier, name="actor courier")
        # (time it may first be idle, tie-breaker, address, slot): one entry per live actor
        self._idle_due: list[tuple[float, int, Address, _Slot]] = []
        self._idle_order = itertools.count()
        self._idle_wakeup = trio.Event()
        if self._idle_after_s > 0:
            nursery.start_soon(self._sweep_idle, name="idle actor sweeper")
        self.spawned = Counter[str]()
        self.restarts = Counter[str]()
        self.taken_over = Counter[str]()  # actors stopped because another node claimed them
        # Told messages for this address were dropped because its actor could not start (see the module's docstring).
        self.on_tells_lost: Callable[[Address], None] | None = None
        self._closed = False

    def add_kind(self, kind: str, factory: Factory, *, claimed: bool = False, opens: Opener | None = None) -> None:
        """Teach the registry how to make actors of `kind`.

        `claimed`: claim each before it starts (if a claim is set). `opens`: only
        the messages it lets through start an actor that is not live; any other
        is refused (an ask gets the refusal, a told message is dropped), so a
        message for something that ended or never was leaves no actor behind.
        """
        self._factories[kind] = factory
        if claimed:
            self._claimed_kinds.add(kind)
        if opens is not None:
            self._openers[kind] = opens

    def ref(self, address: Address) -> ActorRef[Any]:
        return ActorRef(address, self)

    def ref_of(self, kind: str, key: str) -> ActorRef[Any]:
        return ActorRef(Address(kind, key), self)

    async def deliver(self, address: Address, envelope: Envelope[Any]) -> None:
        """Put `envelope` in the actor's inbox, spawning the actor if needed.

        Blocks while the inbox is full. Raises ActorUnavailable after close().
        """
        while True:
            if self._closed:
                raise ActorUnavailable(address, "shutting down")
            slot = self._slots.get(address) or self._spawn_for(address, envelope)
            if slot is None:
                return
            try:
                await slot.send.send(envelope)
                return
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                # retired between lookup and send: the next lookup spawns anew
                await trio.lowlevel.checkpoint()

    async def post(self, address: Address, msg: object, reply: Reply[Any] | None = None) -> None:
        """Tell `msg` from one actor to another without waiting on a full inbox.

        Order between posts to one address is kept. Blocks only when the
        courier's own queue is full. With `reply` it is an ask whose answer
        the caller awaits on its own (the bus does, for another node).
        """
        envelope: Envelope[Any] = Envelope(msg, reply)
        if not self._couriered[address] and not self._closed:
            slot = self._slots.get(address) or self._spawn_for(address, envelope)
            if slot is None:
                return
            try:
                slot.send.send_nowait(envelope)
                return
            except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                pass
        self._couriered[address] += 1
        try:
            self._courier_send.send_nowait((address, envelope))
        except trio.WouldBlock:
            log.warning("actor=%s courier queue full: posting blocks", address)
            await self._courier_send.send((address, envelope))

    async def _courier(self) -> None:
        async for address, envelope in self._courier_receive:
            try:
                await self.deliver(address, envelope)
            except ActorUnavailable as exc:
                log.warning("actor=%s post dropped: %s", address, exc)
                if envelope.reply is not None and not envelope.reply.is_set:
                    envelope.reply.fail(exc)
            finally:
                self._couriered[address] -= 1
                if not self._couriered[address]:
                    del self._couriered[address]

    async def crash(self, address: Address) -> None:
        """Test hook: make the actor at `address` crash on its next message."""
        if not self._allow_crash_hook:
            raise PermissionError("crash hook disabled")
        reply: Reply[None] = Reply()
        await self.deliver(address, Envelope(CrashNext(), reply))
        await reply.wait()

    def live(self) -> dict[str, int]:
        """Number of live actors by kind."""
        return dict(Counter(a.kind for a in self._slots))

    def live_addresses(self, kind: str) -> list[Address]:
        """The addresses of this registry's live actors of one kind."""
        return [address for address in self._slots if address.kind == kind]

    def is_live(self, address: Address) -> bool:
        return address in self._slots

    def queued(self) -> int:
        """Messages waiting in all inboxes (a metric)."""
        return sum(s.receive.statistics().current_buffer_used for s in self._slots.values())

    def retire_where(self, moved: Callable[[Address], bool]) -> int:
        """Retire every live actor whose address `moved` says lives elsewhere now (a cluster's membership changed).

        Each one handles what its inbox already holds, then ends; the next
        message for the address spawns it afresh. Returns how many were retired.
        """
        gone = [(address, slot) for address, slot in self._slots.items() if moved(address)]
        for address, slot in gone:
            self._retire(address, slot)
        return len(gone)

    def close(self) -> None:
        """Refuse new deliveries; the owner cancels the nursery afterwards."""
        self._closed = True

    def _spawn_for(self, address: Address, envelope: Envelope[Any]) -> _Slot | None:
        """Spawn the actor `envelope` is for, unless its kind's opener refuses the message (then None: it was answered)."""
        opens = self._openers.get(address.kind)
        refusal = None if opens is None else opens(address, envelope.msg)
        if refusal is None:
            return self._spawn(address)
        log.debug("actor=%s not started for %s: %s", address, type(envelope.msg).__name__, refusal)
        if envelope.reply is not None and not envelope.reply.is_set:
            envelope.reply.fail(refusal)
        return None

    def _spawn(self, address: Address) -> _Slot:
        if address.kind not in self._factories:
            raise ActorUnavailable(address, "unknown actor kind")
        send, receive = trio.open_memory_channel[Envelope[Any]](self._inbox_size)
        slot = _Slot(send, receive)
        try:
            self._nursery.start_soon(self._supervise, address, slot, name=f"actor {address}")
        except RuntimeError:
            # The actor nursery is closed (the process is being torn down). Not
            # registering the slot matters: a slot without a task would take
            # messages that nobody ever answers.
            raise ActorUnavailable(address, "shutting down") from None
        self._slots[address] = slot
        self.spawned[address.kind] += 1
        slot.last_active = trio.current_time()
        self._idle_check_at(slot.last_active + self._idle_after_s, address, slot)
        return slot

    def _idle_check_at(self, due: float, address: Address, slot: _Slot) -> None:
        if self._idle_after_s > 0:
            heapq.heappush(self._idle_due, (due, next(self._idle_order), address, slot))
            self._idle_wakeup.set()

    async def _sweep_idle(self) -> None:
        """Offer CheckIdle to each actor once nothing has happened to it for idle_after_s."""
        while True:
            if not self._idle_due:
                self._idle_wakeup = trio.Event()
                await self._idle_wakeup.wait()
                continue
            due, _, address, slot = self._idle_due[0]
            now = trio.current_time()
            if due > now:
                # new entries are never due earlier than the first (they are now + idle)
                await trio.sleep_until(due)
                continue
            heapq.heappop(self._idle_due)
            if self._slots.get(address) is not slot:
                continue  # retired or replaced since
            if slot.last_active + self._idle_after_s > now:
                self._idle_check_at(slot.last_active + self._idle_after_s, address, slot)
                continue
            try:
                slot.send.send_nowait(Envelope(CheckIdle()))
            except trio.WouldBlock:
                pass  # a full inbox is not idle
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                continue
            self._idle_check_at(now + self._idle_after_s, address, slot)

    def _retire(self, address: Address, slot: _Slot) -> None:
        # No await in here: the caller checked the inbox is empty, and nothing
        # can slip in between that check and the close.
        if self._slots.get(address) is slot:
            del self._slots[address]
        slot.send.close()

    async def _supervise(self, address: Address, slot: _Slot) -> None:
        actor: Actor[Any] | None = None
        try:
            while True:
                actor = self._factories[address.kind](address)
                slot.actor = actor
                try:
                    if not await self._started(address, slot, actor):
                        return
                    await self._serve(address, slot, actor)
                    return
                except OwnershipLost as lost:
                    log.warning("actor=%s stopped: %s", address, lost)
                    self.taken_over[address.kind] += 1
                    actor.taken_over()
                    self._fail_current(address, slot, lost)
                    self._give_up(address, slot, partial(OwnershipLost, str(lost)))
                    return
                except Exception as crash:
                    _log_crash(address, crash)
                    slot.tell_lost = slot.current is not None and slot.current.reply is None
                    self._fail_current(address, slot)
                    if self._too_many_crashes(slot):
                        log.error("actor=%s crashed %d times in %ss: giving up", address, self._max_crashes, self._crash_window_s)
                        self._give_up(address, slot)
                        return
                    self.restarts[address.kind] += 1
                    await trio.sleep(min(0.05 * 2 ** len(slot.crashes), 2.0))
                finally:
                    if actor is not None:
                        with trio.move_on_after(2, shield=True):
                            await _stop_quietly(actor)
        finally:
            if self._slots.get(address) is slot:
                self._retire(address, slot)

    async def _started(self, address: Address, slot: _Slot, actor: Actor[Any]) -> bool:
        """Claim (for claimed kinds) and start `actor`; False if it refused to start.

        A refusal (StorageUnavailable: the store cannot be reached) is not a
        crash to retry at once: every queued ask gets it now, instead of
        waiting out its timeout, and the address is retired; the next
        message starts the actor again. If told messages were lost with it
        (queued, or the one it crashed on), `on_tells_lost` hears of it.
        """
        try:
            if self._claim is not None and address.kind in self._claimed_kinds:
                actor.epoch = await self._claim(address)
            await actor.start()
        except OwnershipLost:
            raise
        except HubbubError as refusal:
            log.warning("actor=%s cannot start: %s", address, refusal)
            dropped = self._give_up(address, slot, partial(type(refusal), refusal.message))
            if (dropped or slot.tell_lost) and self.on_tells_lost is not None:
                self.on_tells_lost(address)
            return False
        slot.tell_lost = False
        return True

    async def _serve(self, address: Address, slot: _Slot, actor: Actor[Any]) -> None:
        slot.last_active = trio.current_time()
        while True:
            try:
                envelope = await slot.receive.receive()
            except trio.EndOfChannel:
                return  # retired by retire_where once its inbox was handled
            if isinstance(envelope.msg, CheckIdle):
                idle_for = trio.current_time() - slot.last_active
                if idle_for >= self._idle_after_s and actor.idle() and slot.receive.statistics().current_buffer_used == 0:
                    self._retire(address, slot)
                    return
            else:
                slot.current = envelope
                await self._handle(actor, envelope)
                slot.current = None
                slot.last_active = trio.current_time()
            if slot.receive.statistics().current_buffer_used == 0:
                actor.drained()  # also after a CheckIdle that came last in a burst

    async def _handle(self, actor: Actor[Any], envelope: Envelope[Any]) -> None:
        reply = envelope.reply
        if isinstance(envelope.msg, CrashNext):
            actor.crash_next()
            if reply is not None:
                reply.set(None)
            return
        actor.check_crash_hook()
        try:
            await actor.handle(envelope.msg, reply)
        except OwnershipLost:
            raise  # not a refusal: the actor must stop (see _supervise)
        except HubbubError as refusal:
            if reply is None or reply.is_set:
                raise
            reply.fail(refusal)
            return
        if reply is not None and not reply.is_set:
            reply.fail(Internal(f"{actor.address} did not answer {type(envelope.msg).__name__}"))

    def _fail_current(self, address: Address, slot: _Slot, error: Exception | None = None) -> None:
        current, slot.current = slot.current, None
        if current is not None and current.reply is not None and not current.reply.is_set:
            current.reply.fail(error or ActorCrashed(address))

    def _too_many_crashes(self, slot: _Slot) -> bool:
        now = trio.current_time()
        slot.crashes.append(now)
        while slot.crashes and slot.crashes[0] < now - self._crash_window_s:
            slot.crashes.popleft()
        return len(slot.crashes) >= self._max_crashes

    def _give_up(self, address: Address, slot: _Slot, error: Callable[[], Exception] | None = None) -> int:
        """Retire the address; every queued ask gets an `error()` (default: ActorUnavailable), told messages are dropped.

        Returns how many told messages were dropped (the runtime's own not counted).
        """
        self._retire(address, slot)
        dropped = 0
        while True:
            try:
                envelope = slot.receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if envelope.reply is None:
                dropped += not isinstance(envelope.msg, CheckIdle | CrashNext)
            elif not envelope.reply.is_set:
                envelope.reply.fail(error() if error is not None else ActorUnavailable(address, "crashed repeatedly"))
        return dropped


def _log_crash(address: Address, crash: Exception) -> None:
    """One warning line when the store is unreachable (a known outage, which the restart handles); a traceback for anything else."""
    if isinstance(crash, StorageUnavailable):
        log.warning("actor=%s crashed, the store unreachable: %s", address, crash)
    else:
        log.exception("actor=%s crashed", address)


async def _stop_quietly(actor: Actor[Any]) -> None:
    try:
        await actor.stop()
    except Exception:
        log.exception("actor=%s failed to stop cleanly", actor.address)
