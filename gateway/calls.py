"""Call invitations on the gateway (PROTOCOL.md §11): routes to call actors.

`Calls` registers the `call` actor kind, serves the call ops and has a session-end
hook: a device that drops while bound to a call (the inviting device, or the
one that accepted) quits it.

The gateway asks each invitee's account actor for its online devices before
it tells the call actor to ring them (ask goes down: gateway -> account, then
gateway -> call; the call actor never asks anyone).

In a cluster the call actor may live on another node and is the only truth:
ops go to it without checking this node's CallIndex, and this node notes
(LocalSeats) the calls its devices invite to or accept, so that a device
that drops quits them wherever they live. When a node leaves the cluster,
the calls on the others let go of its devices (gateway/cluster.py).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Protocol

from actors.account import messages as account
from actors.call import CallActor, CallContext, CallIndex
from actors.call import messages as call
from actors.errors import CallNotExist, HubbubError, InvalidArgument
from actors import wire as p
from actors.runtime import ActorError, ActorRef, Address, Asks
from actors.wire import ErrorUser
from actors.wire import calls as pc

from .identity import Identity
from .local_seats import LocalSeats
from .services import Feature, Handler, Result, Services

log = logging.getLogger("hubbub.calls")


def calls_of(gateway: _HasCalls) -> CallContext:
    """The calls feature's context on `gateway` (its index of live calls)."""
    return gateway.calls.context


def _opens_a_call(address: Address, msg: object) -> HubbubError | None:
    """Only an invitation starts a call actor; any other message for a call that is not live is refused 5001."""
    if isinstance(msg, call.Invite):
        return None
    return CallNotExist(f"call {address.key} does not exist or is over")


class _HasCalls(Protocol):
    @property
    def calls(self) -> Calls: ...


class Calls(Feature):
    """Call invitations (§11): ops to call actors; a device that drops quits its calls."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.context = CallContext(services.directory, CallIndex(), services.registry)
        self.index = self.context.index
        self.local = LocalSeats()  # in a cluster: the calls this node's devices invited to or accepted
        services.registry.add_kind("call", partial(CallActor, ctx=self.context), opens=_opens_a_call)

    def routes(self) -> dict[type[p.Request], Handler]:
        return {
            pc.CallInvite: self.invite,
            pc.CallAccept: self.accept,
            pc.CallReject: self.reject,
            pc.CallCancel: self.cancel,
            pc.CallQuit: self.quit,
            pc.CallEnd: self.end,
        }

    def _call(self, call_id: str) -> ActorRef[call.CallMsg]:
        return self.services.actor("call", call_id)

    async def _ask(self, call_id: str, msg: Asks[None]) -> None:
        await self.services.ask("call", call_id, msg)

    async def _ask_live(self, call_id: str, msg: Asks[None]) -> pc.CallIDReply:
        # An unknown call is refused where it would live without spawning an actor
        # (`_opens_a_call`); one that is over, by its actor until it retires.
        await self._ask(call_id, msg)
        return pc.CallIDReply(call_id=call_id)

    def _device(self, identity: Identity) -> call.Device:
        return call.Device(identity.user_id, identity.login_id)

    async def invite(self, identity: Identity, req: pc.CallInvite) -> Result:
        inviter = self._device(identity)
        user_ids = list(dict.fromkeys(req.invitees))
        if inviter.user_id in user_ids:
            raise InvalidArgument("one cannot invite oneself to a call")
        invitees, offline = await self._online_devices(user_ids)
        call_id = self.services.new_id()
        if invitees:
            cfg = req.config
            self._note(inviter, call_id)
            await self._ask(call_id, call.Invite(inviter, tuple(invitees), cfg.timeout, cfg.extended_data))
        else:
            log.info("call=%s user=%s not started: no invitee is online", call_id, inviter.user_id)
        errors = [ErrorUser(user_id=user_id, reason="offline") for user_id in offline]
        return pc.CallInviteReply(call_id=call_id, timeout=req.config.timeout, error_user_list=errors)

    async def _online_devices(self, user_ids: list[str]) -> tuple[list[call.Invitee], list[str]]:
        """Each invitee's online logins (asking its account actor), and who has none."""
        online: list[call.Invitee] = []
        offline: list[str] = []
        for user_id in user_ids:
            devices = await self.services.account(user_id).ask(
                account.QueryDevices(), timeout=self.services.config.ask_timeout_s
            )
            if devices:
                online.append(call.Invitee(user_id, tuple(d.login_id for d in devices)))
            else:
                offline.append(user_id)
        return online, offline

    def _note(self, device: call.Device, call_id: str) -> None:
        """In a cluster, note the call before binding the device to it: a drop meanwhile still quits it."""
        if self.services.clustered:
            self.local.note(device.login_id, call_id)

    async def accept(self, identity: Identity, req: pc.CallAccept) -> Result:
        device = self._device(identity)
        self._note(device, req.call_id)
        return await self._ask_live(req.call_id, call.Accept(device, req.config.extended_data))

    async def reject(self, identity: Identity, req: pc.CallReject) -> Result:
        return await self._ask_live(req.call_id, call.Reject(self._device(identity), req.config.extended_data))

    async def cancel(self, identity: Identity, req: pc.CallCancel) -> Result:
        msg = call.Cancel(self._device(identity), tuple(req.invitees), req.config.extended_data)
        await self._ask_live(req.call_id, msg)
        return pc.CallCancelReply(call_id=req.call_id, error_user_list=[])

    async def quit(self, identity: Identity, req: pc.CallQuit) -> Result:
        return await self._ask_live(req.call_id, call.Quit(self._device(identity), req.config.extended_data))

    async def end(self, identity: Identity, req: pc.CallEnd) -> Result:
        return await self._ask_live(req.call_id, call.End(self._device(identity), req.config.extended_data))

    async def session_ended(self, identity: Identity) -> None:
        """A connection ended: its device quits every call it is bound to."""
        device = self._device(identity)
        call_ids = set(self.index.calls_of(identity.login_id)) | self.local.ended(identity.login_id)
        for call_id in sorted(call_ids):
            try:
                await self._call(call_id).tell(call.DeviceGone(device))
            except ActorError as exc:
                log.warning("call=%s user=%s login=%s could not quit: %s", call_id, device.user_id, device.login_id, exc)
