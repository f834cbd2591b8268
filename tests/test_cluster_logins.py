"""The login policy holds when one account's devices log in on different nodes of a cluster.

Three `hubbub serve` nodes on one PostgreSQL and one Redis, policy
maxDevices 3 with kickOldest. The account actor lives on one node and
serialises every login whichever node the device came through: ten logins
at once over the three nodes leave exactly three devices, every other one
kicked with 4000 (each kick may arrive after the newer login's reply when
the two devices are on different nodes), and the ZIM example (A, B, C online, D logs in, A is
kicked) holds with A, B, C and D on different nodes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import trio

from hubbub_client import Client

from .cluster_support import start_cluster, stop_cluster
from .conftest import token
from .redis_servers import RedisForTests

PLATFORMS = ("iOS", "Android", "Web", "Mac", "Windows", "Linux", "iPad", "HarmonyOS", "Web", "Android")


async def test_logins_over_three_nodes_leave_exactly_the_allowed_devices(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"mode": "multi", "maxDevices": 3, "platformLimits": {}}))
    with trio.fail_after(150):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url, "--policy", str(policy))
        try:
            urls = [n.url for n in nodes]
            clients = [Client(urls[i % 3], nursery) for i in range(len(PLATFORMS))]
            for client in clients:
                await client.connect()
            ready = trio.Event()
            replies: dict[int, dict[str, Any]] = {}

            async def log_in(index: int) -> None:
                await ready.wait()
                replies[index] = await clients[index].login("u1", token("u1"), platform=PLATFORMS[index], device_id=f"dev{index}")

            async with trio.open_nursery() as logging_in:
                for index in range(len(clients)):
                    logging_in.start_soon(log_in, index)
                await trio.testing.wait_all_tasks_blocked()
                ready.set()
            assert sorted(replies) == list(range(len(clients)))
            login_ids = {c.login_id for c in clients}
            assert len(login_ids) == len(clients)
            # A kick to a device on another node than the newer device's may arrive after
            # the newer login's reply: wait (bounded) until seven of the ten are closed.
            closes = 0
            enough = trio.Event()

            async def count_close(client: Client) -> None:
                nonlocal closes
                await client.closed()
                closes += 1
                if closes == len(clients) - 3:
                    enough.set()

            with trio.fail_after(30):
                async with trio.open_nursery() as watching:
                    for client in clients:
                        watching.start_soon(count_close, client)
                    await enough.wait()
                    watching.cancel_scope.cancel()
            kicked = [c for c in clients if c.close_code is not None]
            survivors = [c for c in clients if c not in kicked]
            assert len(survivors) == 3, [c.close_code for c in clients]
            online = [d["loginID"] for d in (await survivors[0].request("queryDevices"))["devices"]]
            assert sorted(online) == sorted(str(c.login_id) for c in survivors)
            for client in survivors:
                assert [d["loginID"] for d in (await client.request("queryDevices"))["devices"]] == online
            for client in kicked:
                assert await client.closed() == 4000
                (event,) = client.pending_events("connectionStateChanged")
                assert event["event"] == 4 and event["extendedData"]["byLoginID"] in login_ids - {client.login_id}

            # ZIM: A, B, C online (on n1, n2, n3), D logs in on n1: the oldest, A, is kicked.
            a, b, c, d = (Client(url, nursery) for url in (urls[0], urls[1], urls[2], urls[0]))
            for device, platform in zip((a, b, c, d), ("iOS", "Android", "Mac", "Windows"), strict=True):
                await device.connect()
                await device.login("zim", token("zim"), platform=platform, device_id=f"zim-{platform}")
            assert await a.closed() == 4000
            (event,) = a.pending_events("connectionStateChanged")
            assert event["event"] == 4 and event["extendedData"]["byLoginID"] == d.login_id
            expected = [str(x.login_id) for x in (b, c, d)]
            for device in (b, c, d):
                assert [dv["loginID"] for dv in (await device.request("queryDevices"))["devices"]] == expected
                assert device.close_code is None
        finally:
            await stop_cluster(nodes)
