"""The gateway process: WebSocket listener, actors, admin API, bounded shutdown."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import trio


from actors.account.actor import AccountActor
from actors.account.context import AccountContext, PolicyBox
from actors.account.messages import Wake
from actors.bus import RedisBus
from actors.runtime import ActorRef, Address, Registry
from actors.store.base import Store
from actors.store.engine import open_store
from actors.wire import CloseCode

from .cluster import Cluster, open_bus, statistics as cluster_statistics
from .config import Config
from .datadir import hold_data_dir
from .policy_setting import reload_policy, restore_policy
from .startup import listen_failed
from .devices import DeviceDirectory
from .timers import SessionTimers
from .websocket_io import GuardedServer, UpgradeRequest, apply as apply_websocket_workarounds
from .calls import Calls
from .messaging import Messaging
from .social import Social
from .threads import Threads
from .metrics import Metrics
from .node_asks import NodeFigures, gather_timeout_s
from .rooms import Rooms
from .handoff import Handoff
from .listening import WS_PATH, Listening
from .router import Router
from .services import EndHook, Feature, Routes, Services, account_address
from .session import DeviceSession
from .shared_port import open_shared_listeners
from .wake_after_outage import WakeAfterOutage
from .webhooks import Callbacks

log = logging.getLogger("hubbub.server")


class Gateway:
    """Everything one server process shares: config, store, actors, devices."""

    def __init__(
        self, config: Config, store: Store, actor_nursery: trio.Nursery, *, webhook_depth: int = 0, bus: RedisBus | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.directory = DeviceDirectory()
        self.timers = SessionTimers()  # every session's keepalive and token deadlines, in one task
        self.policy = PolicyBox(config.policy)
        self.registry = Registry(
            actor_nursery,
            {},
            idle_after_s=config.actor_idle_s,
            inbox_size=config.actor_inbox,
            allow_crash_hook=config.test_hooks,
            # On a store nodes share, accounts and groups (they write to it) are
            # taken over for this node at each start and fence their writes with
            # that epoch. Rooms and calls keep nothing in the store: nothing to fence.
            claim=partial(_claim, store, config.node) if store.shared else None,
        )
        # one node of a cluster: actor messages go to the owning node (gateway/cluster.py)
        self.cluster = None if bus is None else Cluster(bus, self.registry, self.directory, store)
        if self.cluster is not None:
            self.cluster.reload_policy = partial(reload_policy, store, self.policy)
        routes: Routes = self.registry if self.cluster is None else self.cluster.routing
        self.account_context = AccountContext(
            store,
            self.directory,
            self.policy,
            post_account=(
                (lambda user_id, msg: routes.post(account_address(user_id), msg))
                if self.cluster is None else self.cluster.post_account
            ),
            node=config.node,
            stream_keep_count=config.stream_keep_count,
            stream_keep_s=config.stream_keep_s,
            max_devices=config.max_devices_per_account,
            post_deliveries=None if self.cluster is None else self.cluster.post_deliveries,
        )
        self.registry.add_kind("account", partial(AccountActor, ctx=self.account_context), claimed=True)
        self.wake_after_outage = WakeAfterOutage(store, routes.post)
        self.registry.on_tells_lost = self.wake_after_outage.note
        self.connections: set[DeviceSession] = set()
        self._full = False  # refusing connections at max_connections
        self._none_open: trio.Event | None = None  # set once no connection is left, while close_all waits
        self.handoff: Handoff | None = None  # a worker of --workers: connections moved to their account's worker
        self.metrics = Metrics(self._live_figures)
        self.account_context.on_delivered = self.metrics.observe_delivery
        # calls to the application backend; `webhook_depth`: calls already queued on disk
        self.callbacks = None if config.webhook_url is None else Callbacks(config, store, webhook_depth, self.metrics.registry)
        self.account_context.webhooks = None if self.callbacks is None else self.callbacks.queue
        # Features are objects over the narrow services interface: each registers
        # its actor kinds, serves its ops, and hears when a logged-in device leaves.
        self.services = Services(config, self.registry, store, self.directory, self.account_context, routes)
        self.rooms = Rooms(self.services)
        self.calls = Calls(self.services)
        if self.cluster is not None:
            self.cluster.on_actors_lost.append(self.rooms.actors_lost)
            self.cluster.figures = self.node_figures
            self.cluster.created_rooms = self.rooms.created_here
            self.rooms.count_elsewhere = self.cluster.gather
            self.rooms.delivery.elsewhere = self.cluster.push_room
            self.cluster.room_event = self.rooms.room_event_arrived
        features: list[Feature] = [Messaging(self.services), self.rooms, self.calls, Social(self.services), Threads(self.services)]
        self.router = Router(self.services, features)
        if self.cluster is not None:  # one message budget per account: kept where its actor lives
            self.cluster.send_token = self.router.take_send_token_here
            self.router.take_send_token = partial(self.cluster.take_send_token, timeout_s=config.ask_timeout_s)
        self.session_end_hooks: list[EndHook] = [feature.session_ended for feature in features]
        if self.callbacks is not None and self.callbacks.before_send is not None:
            self.router.before_send = self.callbacks.before_send.check
        self.metrics.know_ops(self.router.ops)
        self.started_at = time.time()
        self.started_clock = trio.current_time()
        self.stop_requested = trio.Event()
        self.stopped = trio.Event()  # set by `serve` once the store is closed and the data dir released
        self.listening: Listening | None = None
        self.tls: ssl.SSLContext | None = None  # the WebSocket listener's; reload_tls() swaps its certificate

    def account(self, user_id: str) -> ActorRef[Any]:
        return self.services.account(user_id)

    def reload_tls(self) -> None:
        """Load the certificate and key files again (after a renewal); new connections get them.

        Connections already open keep theirs. Raises OSError or ssl.SSLError,
        leaving the old certificate in use, if the files cannot be loaded.
        """
        if self.tls is None or self.config.tls_cert is None:
            return
        self.tls.load_cert_chain(self.config.tls_cert, self.config.tls_key)

    async def policy_saved(self) -> list[str]:
        """A new login policy was saved through this node: the other nodes of its cluster put it in force too.

        Returns once every live node has it in force; the nodes that did not confirm it in time.
        """
        if self.cluster is None:
            return []
        return await self.cluster.announce_policy(gather_timeout_s(self.config.ask_timeout_s))

    def node_figures(self) -> NodeFigures:
        """What this node counts of itself for the admin API's stats and room list (a lone server: all of it)."""
        live = self.registry.live()
        return NodeFigures(
            node=self.config.node,
            connections=len(self.connections),
            devices=len(self.directory),
            accounts=live.get("account", 0),
            calls=live.get("call", 0),
            groups=live.get("group", 0),
            rooms=tuple(sorted(self.rooms.index.member_counts().items())),  # live rooms only, not ones retiring
            uptime_s=round(trio.current_time() - self.started_clock, 3),
        )

    def stop(self) -> None:
        """Ask the server to shut down cleanly (devices get close 4004)."""
        self.stop_requested.set()

    def _live_figures(self) -> dict[str, Any]:
        statistics: Callable[[], dict[str, Any]] | None = getattr(self.store, "statistics", None)
        store_stats = statistics() if statistics is not None else {}
        return {
            "connections": len(self.connections),
            "devices": len(self.directory),
            "actors": self.registry.live(),
            "actors_taken_over": dict(self.registry.taken_over),
            "queued": self.registry.queued(),
            "store_queue": store_stats.get("queue_depth", 0),
            "store_writer": {k: v for k, v in store_stats.items() if k != "queue_depth"},
            "account_stats": dict(self.account_context.stats),
            "cluster": cluster_statistics(self.cluster) | ({} if self.handoff is None else dict(self.handoff.stats)),
        }

    async def handle_connection(self, request: UpgradeRequest) -> None:
        """trio-websocket handler: one connection's whole life; never raises."""
        if request.path.split("?", 1)[0] != WS_PATH:
            await request.reject(404, body=b"hubbub serves WebSocket at /ws\n")
            return
        if self.stop_requested.is_set():
            self.metrics.refused.labels("shutting_down").inc()
            await request.reject(503, body=b"shutting down\n")
            return
        if len(self.connections) >= self.config.max_connections:
            self.metrics.refused.labels("full").inc()
            if not self._full:  # once per spell of refusals, not once per connection
                log.warning("connection limit reached (%d open): refusing new ones with 503", len(self.connections))
                self._full = True
            await request.reject(503, body=b"server full: retry later\n")
            return
        self._full = False
        ws = await request.accept()
        session = DeviceSession(ws, self)
        self.connections.add(session)
        self.metrics.connections.inc()
        try:
            await session.run()
        finally:
            self.connections.discard(session)
            if not self.connections and self._none_open is not None:
                self._none_open.set()

    async def close_all(self, code: int, reason: str) -> None:
        """Close every connection with `code` and wait for them, within the grace time."""
        self._none_open = trio.Event()
        for session in list(self.connections):
            session.request_close(code, reason)
        with trio.move_on_after(self.config.shutdown_grace_s):
            if self.connections:
                await self._none_open.wait()


async def _claim(store: Store, node: str, address: Address) -> int:
    """Take the actor at `address` over for `node`; its new epoch."""
    return await store.claim(str(address), node, int(time.time() * 1000))


async def serve(config: Config, *, task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED) -> None:
    """Run a gateway until `Gateway.stop()` (clean) or cancellation (abrupt).

    `task_status.started` hands over the Gateway once both listeners accept
    connections; `gateway.listening` says where. Raises DataDirInUse at once
    if another server holds `config.data_dir`, RuntimeError if the installed
    trio-websocket is not a version gateway/websocket_io.py supports.
    """
    apply_websocket_workarounds()
    stopped = trio.Event()
    try:
        with hold_data_dir(config.data_dir):  # before the store: one owner per data dir
            await _serve_store(config, stopped, task_status=task_status)
    finally:
        stopped.set()


async def _serve_store(config: Config, stopped: trio.Event, *, task_status: trio.TaskStatus[Gateway]) -> None:
    async with open_store(config.data_dir, config.store_url) as store:
        async with trio.open_nursery() as root:
            actors = await root.start(_nursery_task)
            depth = sum(await store.webhook_counts()) if config.webhook_url is not None else 0
            bus = None if config.bus_url is None else open_bus(config)
            gateway = Gateway(config, store, actors, webhook_depth=depth, bus=bus)
            gateway.stopped = stopped
            await _clear_devices_left_online(gateway)
            if bus is not None and gateway.cluster is not None:
                await root.start(bus.run)  # joins the membership: actors are placed from here on
                await root.start(gateway.cluster.run, gateway.stop_requested)
                if config.wait_for_nodes:  # the workers of one supervisor: none listens before all agree who owns what
                    await gateway.cluster.until_view_holds(config.wait_for_nodes)
            await restore_policy(store, gateway.policy, config.policy)
            if gateway.callbacks is not None:
                await root.start(gateway.callbacks.run)
            await root.start(gateway.wake_after_outage.run)
            for user_id in await store.users_with_pending_deliveries():  # each to its owner (in a cluster, any node's)
                await gateway.services.routes.post(account_address(user_id), Wake())
            await root.start(gateway.timers.run)
            sessions = await root.start(_nursery_task)
            listener_scope = trio.CancelScope()
            ws_server = await root.start(_listen, gateway, sessions, listener_scope)
            admin_port: int | None = None
            if config.admin_port is not None:
                from .admin import serve_admin

                admin_port = await root.start(serve_admin, gateway)
            gateway.listening = Listening(config.host, ws_server.port, admin_port, tls=config.tls_cert is not None)
            task_status.started(gateway)
            await gateway.stop_requested.wait()
            log.info("shutting down: closing %d connections", len(gateway.connections))
            listener_scope.cancel()
            # Sessions first, so their accounts still hear which devices left.
            await gateway.close_all(CloseCode.SHUTTING_DOWN, "server shutting down")
            gateway.registry.close()
            root.cancel_scope.cancel()
    log.info("stopped")


async def _clear_devices_left_online(gateway: Gateway) -> None:
    """Devices still recorded online on this node at start went with a crash: mark them offline.

    Before the listeners open, so no login on this node can come between the
    read and the write; the backend hears userOffline for each (reason 'restart').
    """
    store, node, callbacks = gateway.store, gateway.config.node, gateway.callbacks
    now = int(time.time() * 1000)
    rows = []
    if callbacks is not None and callbacks.queue.wants("userOffline"):
        rows = callbacks.restart_offline(await store.node_devices(node), now)
    with nullcontext() if callbacks is None else callbacks.queue.storing(rows):
        cleared = await store.clear_node_devices(node, now, rows)
    if cleared:
        log.info("marked %d devices offline that were online before the restart", cleared)


async def _nursery_task(*, task_status: trio.TaskStatus[trio.Nursery] = trio.TASK_STATUS_IGNORED) -> None:
    """A nursery of its own that lives until cancelled (actors, sessions)."""
    async with trio.open_nursery() as nursery:
        task_status.started(nursery)
        await trio.sleep_forever()


def tls_context(cert: Path, key: Path | None) -> ssl.SSLContext:
    """The server's TLS settings: the given certificate chain and key, TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


async def _listen(
    gateway: Gateway,
    sessions: trio.Nursery,
    scope: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    config = gateway.config
    with scope:
        listeners: list[trio.SSLListener[trio.SocketStream] | trio.SocketListener]
        try:
            if config.reuse_port:  # one of several processes on this port (--workers)
                tcp = await open_shared_listeners(config.port, config.host)
            else:
                tcp = await trio.open_tcp_listeners(config.port, host=config.host)
            if config.tls_cert is not None:
                tls = gateway.tls = tls_context(config.tls_cert, config.tls_key)
                listeners = [trio.SSLListener(listener, tls, https_compatible=True) for listener in tcp]
            else:
                listeners = list(tcp)
        except OSError as exc:
            raise listen_failed("WebSocket", config.host, config.port, exc) from exc
        server = GuardedServer(
            gateway.handle_connection,
            listeners,
            handler_nursery=sessions,  # each session reads its frames itself, with the frame limit (gateway/websocket_io.py)
            connect_timeout=config.login_timeout_s,
            disconnect_timeout=config.close_timeout_s,
        )
        async with trio.open_nursery() as listening:
            handoff = _handoff(gateway, lambda stream: sessions.start_soon(server.serve_handed, stream))
            if handoff is not None:
                try:
                    await listening.start(handoff.run)
                    server.place = handoff.place
                    gateway.handoff = handoff
                except OSError as exc:  # another process holds the name: connections are served where they arrive
                    log.warning("connections cannot be handed to their account's worker: %s", exc)
            task_status.started(await listening.start(server.run))


def _handoff(gateway: Gateway, serve_soon: Callable[[trio.SocketStream], None]) -> Handoff | None:
    """A worker of --workers (a cluster node sharing its port with the others named): its handoff; None for any other server."""
    config, cluster = gateway.config, gateway.cluster
    if cluster is None or not config.reuse_port or not config.wait_for_nodes or config.tls_cert is not None:
        return None
    workers = [name.strip() for name in config.wait_for_nodes.split(",") if name.strip()]
    return Handoff(
        config.host, config.port, config.node, workers, lambda user_id: cluster.routing.owner(account_address(user_id)), serve_soon,
    )
