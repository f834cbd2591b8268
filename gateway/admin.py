"""Admin HTTP API (PROTOCOL.md §13): JSON over its own listener, bearer token.

Runs starlette under hypercorn's trio worker inside the gateway's nursery.

On a node of a cluster every route answers for the whole cluster: device
lists, force offline and one room go to the actor wherever it lives; the
policy is saved in the store, then every live node is asked to put it in force
(a PUT answers 504 naming the nodes that did not confirm it in time); `/v1/stats` and
`/v1/rooms` ask every live node for its own part (gateway/node_asks.py),
add them up, and say which nodes answered (`nodesAnswered`) and which did
not in time (`nodesSilent`, after `gather_timeout_s`: their part is missing
from the totals).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from typing import Protocol, TypeVar

import hypercorn.config
import hypercorn.trio
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from actors.account import messages as account
from actors.account.context import PolicyBox
from actors.account.policy import LoginPolicy
from actors.errors import StorageUnavailable
from actors.runtime import ActorError, Address, Asks, Registry
from actors.wire import builtins_of

from .config import Config
from .devices import DeviceDirectory
from .cluster import Cluster
from .listening import Listening
from .metrics import Metrics
from .node_asks import AskFigures, NodeFigures, gather_timeout_s
from .policy_setting import set_policy
from .rooms import Rooms, describe_room
from .services import Services
from .webapp import web_routes
from .startup import listen_failed
from .webhooks import Callbacks
from .webhooks.admin import webhook_routes


class AdminHost(Protocol):
    """What the admin API reads and changes of the server."""

    @property
    def config(self) -> Config: ...
    @property
    def services(self) -> Services: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def policy(self) -> PolicyBox: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def connections(self) -> Collection[object]: ...
    @property
    def directory(self) -> DeviceDirectory: ...
    @property
    def rooms(self) -> Rooms: ...
    @property
    def listening(self) -> Listening | None: ...
    @property
    def started_clock(self) -> float: ...
    @property
    def callbacks(self) -> Callbacks | None: ...
    @property
    def cluster(self) -> Cluster | None: ...
    async def policy_saved(self) -> list[str]: ...
    def node_figures(self) -> NodeFigures: ...


R = TypeVar("R")
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@:-")
_MAX_BODY_BYTES = 64 * 1024


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def build_app(gateway: AdminHost) -> Starlette:
    """The admin ASGI application for one gateway."""

    def authorize(request: Request) -> None:
        expected = gateway.config.admin_token
        given = request.headers.get("authorization", "")
        if not expected or not secrets.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise _Refused(401, "missing or wrong admin bearer token")

    def user_id_of(request: Request) -> str:
        user_id = str(request.path_params["user_id"])
        if not 1 <= len(user_id) <= 128 or not set(user_id) <= _ID_CHARS:
            raise _Refused(400, "userID must be 1-128 characters of [A-Za-z0-9_.@:-]")
        return user_id

    async def ask_account(user_id: str, msg: Asks[R]) -> R:
        try:
            return await gateway.services.account(user_id).ask(msg, timeout=gateway.config.ask_timeout_s)
        except ActorError as exc:
            raise _Refused(503, f"account unavailable: {exc}") from None

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "serving"})

    async def metrics(request: Request) -> Response:
        authorize(request)
        return Response(gateway.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def devices(request: Request) -> Response:
        authorize(request)
        found = await ask_account(user_id_of(request), account.QueryDevices())
        return JSONResponse({"devices": [builtins_of(d) for d in found]})

    async def force_one(request: Request) -> Response:
        authorize(request)
        login_id = str(request.path_params["login_id"])
        count = await ask_account(user_id_of(request), account.ForceOffline(login_id))
        if count == 0:
            raise _Refused(404, "no such online device")
        return JSONResponse({"forcedOffline": count})

    async def force_all(request: Request) -> Response:
        authorize(request)
        count = await ask_account(user_id_of(request), account.ForceOffline(None))
        return JSONResponse({"forcedOffline": count})

    async def get_policy(request: Request) -> Response:
        authorize(request)
        return JSONResponse(gateway.policy.current.to_json())

    async def put_policy(request: Request) -> Response:
        authorize(request)
        body = await request.body()
        if len(body) > _MAX_BODY_BYTES:
            raise _Refused(413, "policy body too large")
        try:
            policy = LoginPolicy.from_json(json.loads(body))
        except (ValueError, RecursionError) as exc:
            # ValueError covers bad JSON and bad UTF-8; RecursionError, JSON nested too deep
            raise _Refused(400, f"invalid policy: {exc}") from None
        try:
            await set_policy(gateway.services.store, gateway.policy, policy)  # saved first: the change survives a restart
        except StorageUnavailable as exc:
            raise _Refused(503, f"policy not changed: it could not be saved ({exc})") from None
        silent = await gateway.policy_saved()
        if silent:
            raise _Refused(
                504,
                f"login policy saved and in force on this node, but {', '.join(silent)} did not confirm it in time:"
                " each puts the stored policy in force when the announcement reaches it, or at its next start",
            )
        return JSONResponse(policy.to_json())

    async def every_node() -> tuple[dict[str, NodeFigures], list[str]]:
        """Each live node's figures (this one's alone on a lone server), and the nodes that did not answer."""
        if gateway.cluster is None:
            return {gateway.config.node: gateway.node_figures()}, []
        return await gateway.cluster.gather(AskFigures(), gateway.node_figures, gather_timeout_s(gateway.config.ask_timeout_s))

    async def stats(request: Request) -> Response:
        authorize(request)
        found, silent = await every_node()
        here = found[gateway.config.node]
        body: dict[str, object] = {**_counts(found.values()), "uptimeSeconds": here.uptime_s}
        if gateway.cluster is not None:
            body |= {
                "node": here.node,
                "nodes": {name: {**_counts([one]), "uptimeSeconds": one.uptime_s} for name, one in found.items()},
                **_answered(found, silent),
            }
        return JSONResponse(body)

    async def crash(request: Request) -> Response:
        authorize(request)
        if not gateway.config.test_hooks:
            raise _Refused(404, "test hooks are disabled")
        address = Address(str(request.path_params["kind"]), str(request.path_params["key"]))
        try:
            await gateway.registry.crash(address)
        except ActorError as exc:
            raise _Refused(404, f"cannot arm a crash: {exc}") from None
        return JSONResponse({"armed": str(address)})

    async def rooms(request: Request) -> Response:
        authorize(request)
        found, silent = await every_node()
        if gateway.cluster is None:
            return JSONResponse({"rooms": [{"roomID": r, "memberCount": n} for r, n in found[gateway.config.node].rooms]})
        listed = sorted((room_id, count, node) for node, one in found.items() for room_id, count in one.rooms)
        return JSONResponse(
            {"rooms": [{"roomID": r, "memberCount": n, "node": node} for r, n, node in listed], **_answered(found, silent)}
        )

    async def one_room(request: Request) -> Response:
        authorize(request)
        try:
            found = await describe_room(gateway, str(request.path_params["room_id"]))
        except ActorError as exc:
            raise _Refused(503, f"room unavailable: {exc}") from None
        if found is None:
            raise _Refused(404, "no such room")
        return JSONResponse(found)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refused)
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    routes = [
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/v1/users/{user_id}/devices", devices, methods=["GET"]),
        Route("/v1/users/{user_id}/devices", force_all, methods=["DELETE"]),
        Route("/v1/users/{user_id}/devices/{login_id}", force_one, methods=["DELETE"]),
        Route("/v1/policy", get_policy, methods=["GET"]),
        Route("/v1/policy", put_policy, methods=["PUT"]),
        Route("/v1/stats", stats),
        Route("/v1/rooms", rooms, methods=["GET"]),
        Route("/v1/rooms/{room_id}", one_room, methods=["GET"]),
        Route("/v1/test/crash/{kind}/{key}", crash, methods=["POST"]),
        *webhook_routes(gateway.callbacks, gateway.services.store, authorize),
        *web_routes(gateway),
    ]
    return Starlette(routes=routes, exception_handlers={_Refused: refused})


def _counts(found: Collection[NodeFigures]) -> dict[str, int]:
    """The totals `/v1/stats` shows, over the given nodes' figures."""
    return {
        "connections": sum(one.connections for one in found),
        "devices": sum(one.devices for one in found),
        "accounts": sum(one.accounts for one in found),
        "rooms": sum(len(one.rooms) for one in found),
        "calls": sum(one.calls for one in found),
        "groups": sum(one.groups for one in found),
    }


def _answered(found: dict[str, NodeFigures], silent: list[str]) -> dict[str, list[str]]:
    return {"nodesAnswered": sorted(found), "nodesSilent": silent}


async def serve_admin(gateway: AdminHost, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the admin API until cancelled; `task_status` gets the bound port."""
    config = hypercorn.config.Config()
    config.bind = [f"{gateway.config.admin_host}:{gateway.config.admin_port or 0}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1.0
    async with trio.open_nursery() as nursery:
        try:
            binds: list[str] = await nursery.start(hypercorn.trio.serve, build_app(gateway), config)
        except (OSError, BaseExceptionGroup) as exc:  # hypercorn binds inside a nursery of its own
            raise listen_failed("admin API", gateway.config.admin_host, gateway.config.admin_port or 0, exc) from exc
        task_status.started(int(binds[0].rsplit(":", 1)[1]))


