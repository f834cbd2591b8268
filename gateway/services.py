"""What gateway features may use, and what they share: the narrow services interface.

A feature (messaging, rooms, calls, social) is an object built over
`Services`: actor references by address, the store, the device directory
and the limits, nothing of the server, the session or the other features.
Its route handlers get the acting device's `Identity` and the typed
request, never the session. Addresses, IDs and the clock shared by the
gateway live here too, re-exported from actors.ids.

A low module: of the gateway it imports only config, devices and identity,
so every feature, the router and the session can import it without cycles.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, TypeVar

from actors import wire as p
from actors.account.context import AccountContext
from actors.account.messages import AccountMsg, TakePending
from actors.ids import now_ms, session_address
from actors.runtime import ActorError, ActorRef, Address, Asks, Envelope, Registry
from actors.store.base import Store
from actors.wire.errors import HubbubError

from .config import Config
from .devices import DeviceDirectory
from .identity import Identity
from .tokens import TokenVerifier

__all__ = [
    "NO_REPLY", "EndHook", "Feature", "Handler", "NoReply", "Result", "Services",
    "account_address", "now_ms", "random_id", "session_address",
]

R = TypeVar("R")

log = logging.getLogger("hubbub.gateway")


def account_address(user_id: str) -> Address:
    """The address of one account's actor."""
    return Address("account", user_id)


def random_id(prefix: str) -> str:
    """`prefix` and 64 random bits in hex: IDs a client did not choose (devices, groups)."""
    return f"{prefix}{secrets.token_hex(8)}"


class Routes(Protocol):
    """Where actor messages go: the local registry, or a cluster's routing (actors.bus.ClusterRouting)."""

    async def deliver(self, address: Address, envelope: Envelope[Any]) -> None: ...

    async def post(self, address: Address, msg: object) -> None: ...


class NoReply:
    """Marker: the handler already queued its reply."""


NO_REPLY: Final = NoReply()

Result = p.Reply | dict[str, Any] | None | NoReply
Handler = Callable[[Identity, Any], Awaitable[Result]]
EndHook = Callable[[Identity], Awaitable[None]]


class Services:
    """The server's parts a feature may use; built once per gateway."""

    def __init__(
        self, config: Config, registry: Registry, store: Store, directory: DeviceDirectory, accounts: AccountContext,
        routes: Routes | None = None,
    ) -> None:
        self.config = config
        self.registry = registry  # this node's actors (kinds, live counts); messages go through `routes`
        self.routes: Routes = registry if routes is None else routes
        self.store = store
        self.directory = directory
        self.accounts = accounts  # the account actors' shared context (posting between accounts, counters)
        self.tokens = TokenVerifier(config.auth_secret, jwks=config.auth_jwks, issuer=config.auth_issuer, audience=config.auth_audience)

    @property
    def clustered(self) -> bool:
        """Whether this gateway is one node of a cluster (actors it does not own live on other nodes)."""
        return self.routes is not self.registry

    def account(self, user_id: str) -> ActorRef[AccountMsg]:
        return ActorRef(account_address(user_id), self.routes)

    def actor(self, kind: str, key: str) -> ActorRef[Any]:
        """The actor `kind`/`key` (room, call, group), spawned on first use (on the node that owns it)."""
        return ActorRef(Address(kind, key), self.routes)

    async def ask_account(self, identity: Identity, msg: Asks[R]) -> R:
        """Ask the acting device's account; raises its refusal, or AskTimeout after ask_timeout_s."""
        return await self.account(identity.user_id).ask(msg, timeout=self.config.ask_timeout_s)

    async def ask_group(self, identity: Identity, group_id: str, msg: Asks[R]) -> R:
        """Ask a group's actor for the acting device; the answer once that device's account took what the actor queued for it.

        The group's actor answers once its step is stored, before the acting
        account takes the events and deliveries that step queued for it (the
        sender's own copy of a message, the other devices' threadChanged):
        taking them first keeps the reply in order with them and with that
        account's later steps, so a deletion another of its devices makes
        after a send's reply covers the message. The step is stored either
        way: if the account cannot take them now (the store or the account
        unreachable), one warning line says so and they wait in the outbox.
        """
        answer = await self.ask("group", group_id, msg)
        try:
            await self.ask_account(identity, TakePending())
        except (HubbubError, ActorError) as exc:
            log.warning("group=%s answered before account=%s took what it queued: %s", group_id, identity.user_id, exc)
        return answer

    async def ask(self, kind: str, key: str, msg: Asks[R]) -> R:
        """Ask the actor `kind`/`key`; raises its refusal, or AskTimeout after ask_timeout_s."""
        return await self.actor(kind, key).ask(msg, timeout=self.config.ask_timeout_s)

    def new_id(self) -> str:
        """A new ID unique to this node (logins, calls)."""
        return random_id(f"{self.config.node}-")


class Feature:
    """A gateway feature: the ops it serves, the sendMessage types it takes, what it does when a device leaves."""

    def routes(self) -> dict[type[p.Request], Handler]:
        return {}

    def send_handlers(self) -> dict[int, Handler]:
        """sendMessage handlers by conversationType."""
        return {}

    async def session_ended(self, identity: Identity) -> None:
        """A logged-in device's connection ended (called once, shielded and bounded)."""
