"""Each node's admin API answers for the whole cluster: stats, rooms, device lists, force offline, and the room caps.

Three real nodes on one PostgreSQL and one Redis. Devices sit on every
node; the admin API of any one node counts all of them (`/v1/stats`), lists
every room wherever its actor lives (`/v1/rooms`), lists and forces offline
devices held by another node; a node that does not answer in time is named
in `nodesSilent` and left out of the totals. A user's room caps count the
rooms they created on every node.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import trio

from actors.bus.placement import owner_of
from actors.runtime import Address
from hubbub_client import Client

from .cluster_support import Node, device_on, start_cluster, stop_cluster
from .messaging_support import fails
from .redis_servers import RedisForTests
from .test_durability import ADMIN

AUTH = {"Authorization": f"Bearer {ADMIN}"}
NAMES = ("n1", "n2", "n3")


async def _get(node: Node, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=node.admin_url, timeout=20) as admin:
        response = await admin.get(path, headers=AUTH)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def _delete(node: Node, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=node.admin_url, timeout=20) as admin:
        response = await admin.delete(path, headers=AUTH)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _room_on(node: str, prefix: str) -> str:
    """A room ID whose actor lives on `node` while all three nodes are live."""
    return next(f"{prefix}{i}" for i in range(1000) if owner_of(Address("room", f"{prefix}{i}"), NAMES) == node)


async def _create(client: Client, room_id: str, **config: Any) -> dict[str, Any]:
    return await client.request("createRoom", roomInfo={"roomID": room_id, "roomName": room_id}, config=config)


async def test_stats_rooms_and_devices_through_any_node_cover_every_node(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(240):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url)
        try:
            n1, n2, n3 = nodes
            alice = await device_on(nursery, n2.url, "alice", "iOS")
            bob = await device_on(nursery, n3.url, "bob", "iOS")
            carol_1 = await device_on(nursery, n1.url, "carol", "iOS")
            carol_2 = await device_on(nursery, n2.url, "carol", "Android")
            on_n2, on_n3 = _room_on("n2", "a"), _room_on("n3", "b")
            await _create(alice, on_n2)
            await _create(bob, on_n3)
            await bob.request("joinRoom", roomID=on_n2)

            for node in nodes:  # every node answers the same totals
                stats = await _get(node, "/v1/stats")
                assert (stats["connections"], stats["devices"], stats["accounts"], stats["rooms"]) == (4, 4, 3, 2), stats
                assert (stats["node"], stats["nodesAnswered"], stats["nodesSilent"]) == (node.name, list(NAMES), [])
                per_node = {name: (one["connections"], one["devices"], one["rooms"]) for name, one in stats["nodes"].items()}
                assert per_node == {"n1": (1, 1, 0), "n2": (2, 2, 1), "n3": (1, 1, 1)}
                assert sum(one["accounts"] for one in stats["nodes"].values()) == 3
                rooms = await _get(node, "/v1/rooms")
                assert rooms["rooms"] == [
                    {"roomID": on_n2, "memberCount": 2, "node": "n2"}, {"roomID": on_n3, "memberCount": 1, "node": "n3"},
                ]
                assert (rooms["nodesAnswered"], rooms["nodesSilent"]) == (list(NAMES), [])
            one_room = await _get(n1, f"/v1/rooms/{on_n3}")
            assert one_room["members"] == [{"userID": "bob", "loginID": bob.login_id}]

            # device lists and force offline reach devices another node holds
            listed = await _get(n1, "/v1/users/alice/devices")
            assert [d["loginID"] for d in listed["devices"]] == [alice.login_id] and str(alice.login_id).startswith("n2-")
            assert await _delete(n1, f"/v1/users/bob/devices/{bob.login_id}") == {"forcedOffline": 1}
            assert await bob.closed() == 4001
            assert await _delete(n3, "/v1/users/carol/devices") == {"forcedOffline": 2}
            assert (await carol_1.closed(), await carol_2.closed()) == (4001, 4001)
            while (await _get(n3, "/v1/stats"))["devices"] != 1:  # noqa: ASYNC110 - the closes cross the bus
                await trio.sleep(0.05)

            # a node that does not answer is named, and its part is not counted
            os.kill(n3.process.pid, signal.SIGSTOP)
            try:
                stats = await _get(n1, "/v1/stats")
                rooms = await _get(n2, "/v1/rooms")
            finally:
                os.kill(n3.process.pid, signal.SIGCONT)
            assert (stats["nodesAnswered"], stats["nodesSilent"]) == (["n1", "n2"], ["n3"])
            assert (stats["devices"], stats["rooms"], sorted(stats["nodes"])) == (1, 1, ["n1", "n2"])
            assert (rooms["rooms"], rooms["nodesSilent"]) == ([{"roomID": on_n2, "memberCount": 1, "node": "n2"}], ["n3"])
        finally:
            await stop_cluster(nodes)


async def test_room_caps_count_a_users_rooms_on_every_node(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    caps = ("--max-rooms-per-user", "3", "--max-lingering-rooms-per-user", "2")
    with trio.fail_after(240):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url, *caps)
        try:
            n1, n2, n3 = nodes
            alice_1 = await device_on(nursery, n1.url, "alice", "iOS")
            alice_3 = await device_on(nursery, n3.url, "alice", "Android")
            bob = await device_on(nursery, n2.url, "bob", "iOS")
            on_n1, on_n2, on_n3, more = _room_on("n1", "a"), _room_on("n2", "a"), _room_on("n3", "a"), _room_on("n1", "z")
            for room_id in (on_n2, on_n3):  # neither lives on n1, where alice_1 is
                await _create(alice_1, room_id, roomDestroyDelayTime=600)
                await alice_1.request("leaveRoom", roomID=room_id)  # empty, kept for its destroy delay
            for client in (alice_1, alice_3):  # refused through either node
                error = await fails(1003, _create(client, on_n1))
                assert "2 empty rooms" in error.message
            await _create(bob, _room_on("n1", "b"))  # bob's rooms are his own
            await alice_3.request("joinRoom", roomID=on_n2)  # lived in again: no longer lingering
            await _create(alice_1, on_n1)
            error = await fails(1003, _create(alice_3, more))
            assert "3 live rooms" in error.message
            entered = await alice_1.request("enterRoom", roomInfo={"roomID": on_n3, "roomName": on_n3}, config={})
            assert entered["roomInfo"]["roomID"] == on_n3  # an existing room, on another node: no cap
            rooms = await _get(n2, "/v1/rooms")
            assert [r["roomID"] for r in rooms["rooms"]] == sorted([on_n1, on_n2, on_n3, _room_on("n1", "b")])
        finally:
            await stop_cluster(nodes)
