"""Decoded request -> typed request -> the actor (or session step) that serves it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from actors import wire as p
from actors.account import messages as account
from actors.errors import InvalidArgument, MessageTooLarge, NotLoggedIn, UnknownOp
from actors.outbound import Disconnect
from actors.wire.session import DevicesReply

from .admission import admit
from .auth import verify_token
from .codec import reply_ok

if TYPE_CHECKING:
    from .server import Gateway
    from .session import DeviceSession


class NoReply:
    """Marker: the handler already queued its reply."""


NO_REPLY: Final = NoReply()

Result = p.Reply | dict[str, Any] | None | NoReply
Handler = Callable[["DeviceSession", Any], Awaitable[Result]]


class Router:
    """Maps each request type to the coroutine that serves it."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.ops = p.known_ops()
        self.routes: dict[type[p.Request], Handler] = {
            p.Login: self._login,
            p.Logout: self._logout,
            p.RenewToken: self._renew_token,
            p.QueryDevices: self._query_devices,
            p.Ack: self._ack,
            p.SendMessage: self._send_message,
        }
        # sendMessage is one op for peer (0), room (1) and group (2) messages;
        # each feature serves its conversation type.
        self.send_handlers: dict[int, Handler] = {}

    def add_routes(self, routes: dict[type[p.Request], Handler]) -> None:
        """Let a feature module serve more ops."""
        self.routes.update(routes)

    async def dispatch(self, session: DeviceSession, frame: dict[str, Any]) -> Result:
        """Validate `frame` and serve it. Raises HubbubError for refusals."""
        request = p.parse_request(frame, self.ops)
        if not session.logged_in and not isinstance(request, p.Login):
            raise NotLoggedIn("log in first")
        handler = self.routes.get(type(request))
        if handler is None:
            raise UnknownOp(f"op {frame['op']!r} is not served by this server")
        return await handler(session, request)

    async def _send_message(self, session: DeviceSession, req: p.SendMessage) -> Result:
        if p.message_size(req.message) > p.MAX_MESSAGE_BYTES:
            raise MessageTooLarge(f"message body exceeds {p.MAX_MESSAGE_BYTES} bytes")
        handler = self.send_handlers.get(req.conversation_type)
        if handler is None:
            raise InvalidArgument(f"conversationType {req.conversation_type} is not served by this server")
        return await handler(session, req)

    # ---- session ops ----------------------------------------------------------

    async def _login(self, session: DeviceSession, req: p.Login) -> Result:
        await admit(session, req)
        return NO_REPLY

    async def _logout(self, session: DeviceSession, req: p.Logout) -> Result:
        user_id, login_id = _identity(session)
        await self.gateway.account(user_id).ask(account.Logout(login_id), timeout=self.gateway.config.ask_timeout_s)
        session.logging_out()
        await session.send(reply_ok(req.id))
        await session.send(Disconnect(p.CloseCode.LOGOUT, "logout"))
        return NO_REPLY

    async def _renew_token(self, session: DeviceSession, req: p.RenewToken) -> Result:
        user_id, _ = _identity(session)
        claims = verify_token(self.gateway.config.auth_secret, req.token, user_id)
        session.token_renewed(claims.expires_at)
        return None

    async def _query_devices(self, session: DeviceSession, req: p.QueryDevices) -> Result:
        user_id, _ = _identity(session)
        devices = await self.gateway.account(user_id).ask(account.QueryDevices(), timeout=self.gateway.config.ask_timeout_s)
        return DevicesReply(devices=devices)

    async def _ack(self, session: DeviceSession, req: p.Ack) -> Result:
        user_id, login_id = _identity(session)
        await self.gateway.account(user_id).tell(account.Acked(login_id, req.seq))
        return None


def _identity(session: DeviceSession) -> tuple[str, str]:
    if session.user_id is None or session.login_id is None:
        raise NotLoggedIn("log in first")
    return session.user_id, session.login_id
