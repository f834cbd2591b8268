"""CallActor: one call invitation and the call it becomes (PROTOCOL.md §11).

Who hears what, for an invitee U with devices A and B where A acts:

    change      callUserStateChanged to        U's devices get instead
    Inviting    everyone in the call, A and B
    Received    everyone in the call, A and B
    Accepted    everyone in the call, A and B  (then only A is in the call)
    Rejected    everyone in the call, A and B
    Timeout     everyone else                  callInvitationTimeout
    Cancelled   everyone else                  callInvitationCancelled
    Quit        everyone in the call, A only
    Ended       everyone in the call

"Everyone in the call" is worked out before the change: the bound device of
each user who accepted (the inviter's inviting device included) and every
rung device of each user still being invited.

The call is over when nobody who accepted is left, or only one is and nobody
is still being invited; the actor then frees its state and idles, and the
runtime retires it. Messages for a call that is over get 5001.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, assert_never

import trio

from ..errors import CallNotExist, CallStateInvalid, InvalidArgument, NoPermission, NotCallParticipant
from ..ids import node_of_login, session_address
from ..outbound import DeviceEvent, DeviceSink
from ..wire import calls as w
from ..runtime import Actor, ActorRef, Address, Reply, Timer, Transport
from .messages import (
    Accept,
    CallMsg,
    CallUser,
    Cancel,
    DeviceGone,
    Device,
    End,
    Invite,
    NodesLeft,
    Quit,
    Reject,
    TimeoutDue,
)

log = logging.getLogger("hubbub.call")


class CallUserState(enum.IntEnum):
    INVITING = 0
    ACCEPTED = 1
    REJECTED = 2
    CANCELLED = 3
    RECEIVED = 5
    TIMEOUT = 6
    QUIT = 7
    ENDED = 8


_PENDING = (CallUserState.INVITING, CallUserState.RECEIVED)
# These reach the user's own devices as an event of their own, never as callUserStateChanged.
_OWN_EVENT = (CallUserState.TIMEOUT, CallUserState.CANCELLED)


class CallIndex:
    """Which calls are live and which devices are bound to them.

    Call actors write it, synchronously; the gateway reads it to refuse ops on
    unknown calls without spawning an actor and to make a dropped device quit.
    """

    def __init__(self) -> None:
        self._calls: dict[str, set[str]] = {}
        self._by_login: dict[str, set[str]] = {}

    def opened(self, call_id: str) -> None:
        self._calls.setdefault(call_id, set())

    def closed(self, call_id: str) -> None:
        for login_id in self._calls.pop(call_id, set()):
            self._unlink(login_id, call_id)

    def bind(self, call_id: str, login_id: str) -> None:
        self._calls.setdefault(call_id, set()).add(login_id)
        self._by_login.setdefault(login_id, set()).add(call_id)

    def unbind(self, call_id: str, login_id: str) -> None:
        self._calls.get(call_id, set()).discard(login_id)
        self._unlink(login_id, call_id)

    def calls_of(self, login_id: str) -> tuple[str, ...]:
        return tuple(self._by_login.get(login_id, ()))

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def __len__(self) -> int:
        return len(self._calls)

    def _unlink(self, login_id: str, call_id: str) -> None:
        calls = self._by_login.get(login_id)
        if calls is not None:
            calls.discard(call_id)
            if not calls:
                del self._by_login[login_id]


@dataclass(slots=True)
class CallContext:
    """What every call actor shares: the sink to devices, the index, the runtime."""

    sink: DeviceSink
    index: CallIndex
    transport: Transport  # to tell a call itself when its timeout runs out
    stats: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Party:
    user_id: str
    state: CallUserState
    extended_data: str
    rung: tuple[Address, ...]  # the sessions that were rung (the inviter: its own)
    bound: str | None = None  # login of the device in the call, once accepted

    def sessions(self) -> tuple[Address, ...]:
        """The sessions that hear the call's events now."""
        if self.state in _PENDING:
            return self.rung
        if self.state is CallUserState.ACCEPTED and self.bound is not None:
            return (session_address(self.bound),)
        return ()

    def to_user(self) -> CallUser:
        return CallUser(user_id=self.user_id, state=int(self.state), extended_data=self.extended_data)


class CallActor(Actor[CallMsg]):
    """One call: its inviter, invitees and their states, and the invitation timeout."""

    def __init__(self, address: Address, ctx: CallContext) -> None:
        super().__init__(address)
        self.call_id = address.key
        self.ctx = ctx
        self.parties: dict[str, _Party] = {}  # by user ID; the inviter first
        self.inviter = ""
        self.extended_data = ""
        self.deadline: float | None = None
        self._timer = Timer()
        self._ref: ActorRef[CallMsg] = ActorRef(address, ctx.transport)

    async def stop(self) -> None:
        self._timer.cancel()

    def idle(self) -> bool:
        return not self.parties

    async def handle(self, msg: CallMsg, reply: Reply[Any] | None) -> None:
        match msg:
            case Invite():
                self._invite(msg)
            case Accept():
                self._accept(msg)
            case Reject():
                self._answered(self._pending_party(msg.device), CallUserState.REJECTED, msg.extended_data)
            case Cancel():
                self._cancel(msg)
            case Quit():
                self._quit(self._bound_party(msg.device), msg.extended_data)
            case End():
                self._end(msg)
            case DeviceGone():
                self._device_gone(msg.device)
            case TimeoutDue():
                self._time_out_if_due()
            case NodesLeft():
                self._nodes_left(set(msg.nodes))
            case _:
                assert_never(msg)
        if reply is not None:
            reply.set(None)

    # ---- invitation -----------------------------------------------------------

    def _invite(self, msg: Invite) -> None:
        if self.parties:
            raise CallStateInvalid(f"call {self.call_id} already exists")
        self._check_connected(msg.inviter)
        inviter = msg.inviter
        self.inviter, self.extended_data = inviter.user_id, msg.extended_data
        rung = (session_address(inviter.login_id),)
        self.parties[inviter.user_id] = _Party(inviter.user_id, CallUserState.ACCEPTED, msg.extended_data, rung, inviter.login_id)
        for invitee in msg.invitees:
            sessions = tuple(session_address(login_id) for login_id in invitee.login_ids)
            self.parties[invitee.user_id] = _Party(invitee.user_id, CallUserState.INVITING, "", sessions)
        self.ctx.index.opened(self.call_id)
        self.ctx.index.bind(self.call_id, inviter.login_id)
        self.deadline = trio.current_time() + msg.timeout_s
        self._timer.arm(self.deadline, self._ref, TimeoutDue())
        self.ctx.stats["calls_started"] += 1
        log.info("call=%s user=%s login=%s invites %s timeout=%ss", self.call_id, inviter.user_id, inviter.login_id, [i.user_id for i in msg.invitees], msg.timeout_s)
        reached = self._ring(msg.timeout_s)
        self._announce(list(self.parties.values()))
        self._transition(reached, CallUserState.RECEIVED)

    def _ring(self, timeout_s: int) -> list[_Party]:
        """Push the invitation to every rung device; returns the invitees it reached."""
        users = [p.to_user() for p in self.parties.values()]
        event = DeviceEvent(w.CallInvitationReceived(self.call_id, self.inviter, timeout_s, self.extended_data, users))
        reached = []
        for party in self._invitees():
            delivered = [self.ctx.sink.push(session, event) for session in party.rung]
            if any(delivered):
                reached.append(party)
        return reached

    # ---- answers --------------------------------------------------------------

    def _accept(self, msg: Accept) -> None:
        party = self._pending_party(msg.device)
        self._check_connected(msg.device)
        self._transition([party], CallUserState.ACCEPTED, msg.extended_data)
        party.bound = msg.device.login_id
        self.ctx.index.bind(self.call_id, msg.device.login_id)
        log.info("call=%s user=%s login=%s accepted", self.call_id, party.user_id, party.bound)
        self._settle()

    def _answered(self, party: _Party, state: CallUserState, extended_data: str) -> None:
        self._transition([party], state, extended_data)
        log.info("call=%s user=%s %s", self.call_id, party.user_id, state.name.lower())
        self._settle()

    def _cancel(self, msg: Cancel) -> None:
        party = self._party_of(msg.device.user_id)
        if party.user_id != self.inviter:
            raise NoPermission("only the inviter may cancel invitations")
        if party.bound != msg.device.login_id:
            raise NotCallParticipant("only the inviting device may cancel invitations")
        targets = self._cancel_targets(msg.user_ids)
        event = DeviceEvent(w.CallInvitationCancelled(self.call_id, self.inviter, msg.extended_data))
        for target in targets:
            for session in target.sessions():
                self.ctx.sink.push(session, event)
        self._transition(targets, CallUserState.CANCELLED)
        log.info("call=%s user=%s cancelled %s", self.call_id, self.inviter, [t.user_id for t in targets])
        self._settle()

    def _cancel_targets(self, user_ids: tuple[str, ...]) -> list[_Party]:
        invitees = self._invitees()
        if not user_ids:
            targets = invitees
        else:
            unknown = [u for u in user_ids if u not in self.parties or u == self.inviter]
            if unknown:
                raise InvalidArgument(f"not invited to call {self.call_id}: {', '.join(unknown)}")
            targets = [self.parties[u] for u in dict.fromkeys(user_ids)]
        if any(t.state is CallUserState.ACCEPTED for t in targets):
            raise CallStateInvalid("an invitee already accepted: the invitation can no longer be cancelled")
        if user_ids and any(t.state not in _PENDING for t in targets):
            raise CallStateInvalid("that invitee already answered")
        return [t for t in targets if t.state in _PENDING]

    def _quit(self, party: _Party, extended_data: str) -> None:
        bound = party.bound
        self._transition([party], CallUserState.QUIT, extended_data)
        party.bound = None
        if bound is not None:
            self.ctx.index.unbind(self.call_id, bound)
        log.info("call=%s user=%s login=%s quit", self.call_id, party.user_id, bound)
        self._settle()

    def _end(self, msg: End) -> None:
        ender = self._bound_party(msg.device)
        ender.extended_data = msg.extended_data
        active = [p for p in self.parties.values() if p.state is CallUserState.ACCEPTED or p.state in _PENDING]
        self._transition(active, CallUserState.ENDED)
        log.info("call=%s user=%s ended the call", self.call_id, ender.user_id)
        self._over()

    def _device_gone(self, device: Device) -> None:
        party = self.parties.get(device.user_id)
        if party is not None and party.state is CallUserState.ACCEPTED and party.bound == device.login_id:
            self._quit(party, "")

    def _nodes_left(self, nodes: set[str]) -> None:
        """Devices in the call that those nodes served are gone: they quit, as if their connections ended."""
        for party in list(self.parties.values()):
            bound = party.bound
            if party.state is CallUserState.ACCEPTED and bound is not None and node_of_login(bound) in nodes:
                self._quit(party, "")
                if not self.parties:  # the call is over
                    return

    def _time_out_if_due(self) -> None:
        if self.deadline is None or trio.current_time() < self.deadline:
            return
        self.deadline = None
        late = [p for p in self._invitees() if p.state in _PENDING]
        event = DeviceEvent(w.CallInvitationTimeout(self.call_id))
        for party in late:
            for session in party.sessions():
                self.ctx.sink.push(session, event)
        self._transition(late, CallUserState.TIMEOUT)
        log.info("call=%s timed out for %s", self.call_id, [p.user_id for p in late])
        self._settle()

    # ---- state ----------------------------------------------------------------

    def _party_of(self, user_id: str) -> _Party:
        if not self.parties:
            raise CallNotExist(f"call {self.call_id} does not exist or is over")
        party = self.parties.get(user_id)
        if party is None:
            raise NotCallParticipant(f"not a participant of call {self.call_id}")
        return party

    def _pending_party(self, device: Device) -> _Party:
        party = self._party_of(device.user_id)
        if party.state not in _PENDING:
            raise CallStateInvalid(f"the invitation was already answered ({party.state.name.lower()})")
        return party

    def _bound_party(self, device: Device) -> _Party:
        party = self._party_of(device.user_id)
        if party.state is not CallUserState.ACCEPTED:
            raise CallStateInvalid(f"not in the call ({party.state.name.lower()})")
        if party.bound != device.login_id:
            raise NotCallParticipant("another device of this user is the one in the call")
        return party

    def _check_connected(self, device: Device) -> None:
        """Refuse to bind a device whose session already ended.

        Its end hook ran after the session left the directory and found no
        call to quit; binding it now would leave a device in the call forever.
        """
        if not self.ctx.sink.is_connected(session_address(device.login_id)):
            raise CallStateInvalid("this device is no longer connected")

    def _invitees(self) -> list[_Party]:
        return [p for p in self.parties.values() if p.user_id != self.inviter]

    def _transition(self, parties: list[_Party], state: CallUserState, extended_data: str | None = None) -> None:
        """Change the state of `parties` and tell those in the call (as they were before)."""
        if not parties:
            return
        changed = {p.user_id for p in parties}
        silent = changed if state in _OWN_EVENT else set()
        recipients = [s for p in self.parties.values() if p.user_id not in silent for s in p.sessions()]
        for party in parties:
            party.state = state
            if extended_data is not None:
                party.extended_data = extended_data
        self._tell(recipients, parties)

    def _announce(self, parties: list[_Party]) -> None:
        """Tell everyone in the call the current state of `parties`."""
        self._tell([s for p in self.parties.values() for s in p.sessions()], parties)

    def _tell(self, sessions: list[Address], parties: list[_Party]) -> None:
        event = DeviceEvent(w.CallUserStateChanged(self.call_id, [p.to_user() for p in parties]))
        for session in sessions:
            self.ctx.sink.push(session, event)

    def _settle(self) -> None:
        """Disarm the timeout once nobody is waiting; end the call once it is over."""
        pending = any(p.state in _PENDING for p in self.parties.values())
        accepted = sum(p.state is CallUserState.ACCEPTED for p in self.parties.values())
        if not pending:
            self.deadline = None
            self._timer.cancel()
        if accepted == 0 or (accepted == 1 and not pending):
            self._over()

    def _over(self) -> None:
        """Free the call. Invitees still being rung (nobody is left to talk to) are cancelled."""
        leftover = [p for p in self._invitees() if p.state in _PENDING]
        event = DeviceEvent(w.CallInvitationCancelled(self.call_id, self.inviter, ""))
        for party in leftover:
            for session in party.sessions():
                self.ctx.sink.push(session, event)
        self._timer.cancel()
        self.ctx.index.closed(self.call_id)
        self.ctx.stats["calls_over"] += 1
        log.info("call=%s over", self.call_id)
        self.parties, self.deadline = {}, None
