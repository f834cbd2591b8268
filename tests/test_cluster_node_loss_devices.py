"""A node lost: an account living on a surviving node lets go of the devices it served, without a restart.

Two real nodes on one PostgreSQL and one Redis. dave's account lives on n1
(rendezvous hashing over n1 and n2); dave has one device on each node. n2
is killed (kill -9): once its lease runs out, dave's account drops the
device n2 served (stored offline, reason "lost"), and the device on n1
hears the device list once, lists only itself, and still gets messages.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import trio

from actors.bus.placement import owner_of
from actors.runtime import Address

from .cluster_support import device_on, start_cluster, stop_cluster
from .messaging_support import send
from .redis_servers import RedisForTests
from .test_durability import _kill


def _placed_on(node: str, nodes: tuple[str, ...], prefix: str) -> str:
    """The first user ID `prefix`N whose account actor lives on `node` under `nodes`."""
    index = 0
    while owner_of(Address("account", f"{prefix}{index}"), nodes) != node:
        index += 1
    return f"{prefix}{index}"


async def _logouts(database: str, user_id: str) -> dict[str, str | None]:
    """Each login of `user_id` in the store's login history, and why it ended (None: still online)."""

    def read() -> dict[str, str | None]:
        with psycopg.connect(database) as conn:
            rows = conn.execute("SELECT login_id, logout_reason FROM login_history WHERE user_id = %s", (user_id,)).fetchall()
            return {str(login_id): reason for login_id, reason in rows}

    return await trio.to_thread.run_sync(read)


def _ids(devices: list[dict[str, object]]) -> list[object]:
    return [d["loginID"] for d in devices]


async def test_an_account_on_a_surviving_node_drops_the_lost_nodes_devices(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(180):
        nodes = await start_cluster(tmp_path, 2, postgres_url, redis_server.url, "--policy", "multi")
        try:
            n1, n2 = nodes
            dave, carol = _placed_on("n1", ("n1", "n2"), "dave"), _placed_on("n1", ("n1", "n2"), "carol")
            stays = await device_on(nursery, n1.url, dave, "iOS")
            lost = await device_on(nursery, n2.url, dave, "Mac")
            both = await stays.next_event("selfDevicesChanged")
            assert _ids(both["devices"]) == [stays.login_id, lost.login_id]
            sender = await device_on(nursery, n1.url, carol, "iOS")

            await _kill(n2.process)
            changed = await stays.next_event("selfDevicesChanged", timeout=60)  # the lease runs out first
            assert _ids(changed["devices"]) == [stays.login_id]
            assert _ids((await stays.request("queryDevices"))["devices"]) == [stays.login_id]
            assert stays.pending_events("selfDevicesChanged") == []
            assert await _logouts(postgres_url, dave) == {stays.login_id: None, lost.login_id: "lost"}

            sent = await send(sender, dave, "after the loss")
            received = await stays.next_event("peerMessageReceived")
            assert [m["messageID"] for m in received["messageList"]] == [sent["messageID"]]
        finally:
            await stop_cluster(nodes)
