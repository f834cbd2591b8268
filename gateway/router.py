"""Typed request -> the feature handler that serves it, for the device that asked.

Handlers get the acting device's `Identity` and the request, never the
session. Session steps (login, logout, renewToken) are the session's own;
everything else is routed here: the built-in device ops, sendMessage by
conversationType, and each feature's ops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio

from actors import wire as p
from actors.account import messages as account
from actors.errors import InvalidArgument, MessageTooLarge, RateLimited, UnknownOp
from actors.wire.session import DevicesReply, KickDevice

from .identity import Identity
from .send_budget import SendBudgets
from .send_keys import SendKeys
from .services import Feature, Handler, Result, Services


class Router:
    """Maps each request type to the coroutine that serves it."""

    def __init__(self, services: Services, features: Iterable[Feature]) -> None:
        self.services = services
        self.ops = p.known_ops()
        self._op_of = {cls: op for op, cls in self.ops.items()}
        self.routes: dict[type[p.Request], Handler] = {
            p.QueryDevices: self._query_devices,
            KickDevice: self._kick_device,
            p.Ack: self._ack,
            p.SendMessage: self._send_message,
        }
        # sendMessage is one op for peer (0), room (1) and group (2) messages;
        # each feature serves its conversation type.
        self.send_handlers: dict[int, Handler] = {}
        self.send_keys = SendKeys()  # concurrent repeats of a clientMessageID make one message (PROTOCOL.md §4)
        config = services.config
        self.send_budgets = SendBudgets(config.account_messages_per_s, config.account_messages_burst)
        # where an account's budget is kept: here on a lone server; in a cluster, on its account actor's node
        self.take_send_token: Callable[[str], Awaitable[bool]] = self._take_send_token_here
        # beforeSendMessage (gateway/webhooks): the request to go on with, or a refusal
        self.before_send: Callable[[Identity, p.SendMessage], Awaitable[p.SendMessage]] | None = None
        for feature in features:
            self.routes.update(feature.routes())
            self.send_handlers.update(feature.send_handlers())

    def parse(self, frame: dict[str, Any]) -> p.Request:
        """The typed request of a decoded frame. Raises UnknownOp or InvalidArgument (1003)."""
        return p.parse_request(frame, self.ops)

    async def dispatch(self, identity: Identity, request: p.Request) -> Result:
        """Serve `request` for `identity`. Raises HubbubError for refusals."""
        handler = self.routes.get(type(request))
        if handler is None:
            raise UnknownOp(f"op {self._op_of.get(type(request), type(request).__name__)!r} is not served by this server")
        return await handler(identity, request)

    async def _send_message(self, identity: Identity, req: p.SendMessage) -> Result:
        if p.message_size(req.message) > p.MAX_MESSAGE_BYTES:
            raise MessageTooLarge(f"message body exceeds {p.MAX_MESSAGE_BYTES} bytes")
        handler = self.send_handlers.get(req.conversation_type)
        if handler is None:
            raise InvalidArgument(f"conversationType {req.conversation_type} is not served by this server")
        if not await self.take_send_token(identity.user_id):
            self.services.accounts.stats["messages_over_account_rate"] += 1
            raise RateLimited(f"more than {self.send_budgets.rate_per_s:g} messages per second from this account's devices: slow down")
        if self.before_send is not None and req.conversation_type != 1:  # room messages are not stored
            req = await self.before_send(identity, req)
        async with self.send_keys.holding(identity.user_id, req.client_message_id):
            return await handler(identity, req)

    def take_send_token_here(self, user_id: str) -> bool:
        """Spend one of `user_id`'s message tokens from this node's budgets."""
        return self.send_budgets.take(user_id, trio.current_time())

    async def _take_send_token_here(self, user_id: str) -> bool:
        return self.take_send_token_here(user_id)

    async def _query_devices(self, identity: Identity, req: p.QueryDevices) -> Result:
        return DevicesReply(devices=await self.services.ask_account(identity, account.QueryDevices()))

    async def _kick_device(self, identity: Identity, req: KickDevice) -> Result:
        await self.services.ask_account(identity, account.KickOwnDevice(identity.login_id, req.login_id))
        return None

    async def _ack(self, identity: Identity, req: p.Ack) -> Result:
        await self.services.account(identity.user_id).tell(account.Acked(identity.login_id, req.seq))
        return None
