"""Call invitations on the gateway (PROTOCOL.md §11): routes to call actors.

`install` registers the `call` actor kind, the call ops and a session-end
hook: a device that drops while bound to a call (the inviting device, or the
one that accepted) quits it.

The gateway asks each invitee's account actor for its online devices before
it tells the call actor to ring them (ask goes down: gateway -> account, then
gateway -> call; the call actor never asks anyone).
"""

from __future__ import annotations

import logging
import secrets
import weakref
from functools import partial
from typing import TYPE_CHECKING

from actors.account import messages as account
from actors.call import CallActor, CallContext, CallIndex
from actors.call import messages as call
from actors.errors import CallNotExist, InvalidArgument
from actors.runtime import ActorError, ActorRef, Address, Asks
from actors.wire import ErrorUser
from actors.wire import calls as pc

from .router import Result, _identity

if TYPE_CHECKING:
    from .server import Gateway
    from .session import DeviceSession

log = logging.getLogger("hubbub.calls")

_FEATURE: weakref.WeakKeyDictionary[Gateway, CallContext] = weakref.WeakKeyDictionary()


def install(gateway: Gateway) -> None:
    """Serve call invitations on `gateway`: the actor kind, the ops, the end hook."""
    context = CallContext(gateway.directory, CallIndex(), gateway.registry)
    gateway.registry.add_kind("call", partial(CallActor, ctx=context))
    _FEATURE[gateway] = context
    routes = _Routes(gateway, context.index)
    gateway.router.add_routes(
        {
            pc.CallInvite: routes.invite,
            pc.CallAccept: routes.accept,
            pc.CallReject: routes.reject,
            pc.CallCancel: routes.cancel,
            pc.CallQuit: routes.quit,
            pc.CallEnd: routes.end,
        }
    )
    gateway.session_end_hooks.append(routes.session_ended)


def calls_of(gateway: Gateway) -> CallContext:
    """The calls feature installed on `gateway` (KeyError if it was not)."""
    return _FEATURE[gateway]


class _Routes:
    def __init__(self, gateway: Gateway, index: CallIndex) -> None:
        self.gateway = gateway
        self.index = index

    def _call(self, call_id: str) -> ActorRef[call.CallMsg]:
        return self.gateway.registry.ref(Address("call", call_id))

    async def _ask(self, call_id: str, msg: Asks[None]) -> None:
        await self._call(call_id).ask(msg, timeout=self.gateway.config.ask_timeout_s)

    async def _ask_live(self, call_id: str, msg: Asks[None]) -> pc.CallIDReply:
        # An unknown or finished call is refused here, without spawning an actor for it.
        if call_id not in self.index:
            raise CallNotExist(f"call {call_id} does not exist or is over")
        await self._ask(call_id, msg)
        return pc.CallIDReply(call_id=call_id)

    def _device(self, session: DeviceSession) -> call.Device:
        user_id, login_id = _identity(session)
        return call.Device(user_id, login_id)

    async def invite(self, session: DeviceSession, req: pc.CallInvite) -> Result:
        inviter = self._device(session)
        user_ids = list(dict.fromkeys(req.invitees))
        if inviter.user_id in user_ids:
            raise InvalidArgument("one cannot invite oneself to a call")
        invitees, offline = await self._online_devices(user_ids)
        call_id = f"{self.gateway.config.node}-{secrets.token_hex(8)}"
        if invitees:
            cfg = req.config
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
            devices = await self.gateway.account(user_id).ask(
                account.QueryDevices(), timeout=self.gateway.config.ask_timeout_s
            )
            if devices:
                online.append(call.Invitee(user_id, tuple(d.login_id for d in devices)))
            else:
                offline.append(user_id)
        return online, offline

    async def accept(self, session: DeviceSession, req: pc.CallAccept) -> Result:
        return await self._ask_live(req.call_id, call.Accept(self._device(session), req.config.extended_data))

    async def reject(self, session: DeviceSession, req: pc.CallReject) -> Result:
        return await self._ask_live(req.call_id, call.Reject(self._device(session), req.config.extended_data))

    async def cancel(self, session: DeviceSession, req: pc.CallCancel) -> Result:
        msg = call.Cancel(self._device(session), tuple(req.invitees), req.config.extended_data)
        await self._ask_live(req.call_id, msg)
        return pc.CallCancelReply(call_id=req.call_id, error_user_list=[])

    async def quit(self, session: DeviceSession, req: pc.CallQuit) -> Result:
        return await self._ask_live(req.call_id, call.Quit(self._device(session), req.config.extended_data))

    async def end(self, session: DeviceSession, req: pc.CallEnd) -> Result:
        return await self._ask_live(req.call_id, call.End(self._device(session), req.config.extended_data))

    async def session_ended(self, session: DeviceSession) -> None:
        """A connection ended: its device quits every call it is bound to."""
        if session.user_id is None or session.login_id is None:
            return
        device = call.Device(session.user_id, session.login_id)
        for call_id in self.index.calls_of(session.login_id):
            try:
                await self._call(call_id).tell(call.DeviceGone(device))
            except ActorError as exc:
                log.warning("call=%s user=%s login=%s could not quit: %s", call_id, device.user_id, device.login_id, exc)
