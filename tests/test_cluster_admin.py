"""Each node's admin API answers for the whole cluster: a policy set through one node is in force on every node.

Three real nodes on one PostgreSQL and one Redis, started with policy
`multi`. A `PUT /v1/policy` on n1's admin API reaches n2 and n3 over the
bus; logins on the other nodes then follow it, whichever node owns the
account; and a node started later finds it in the store.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import trio

from actors.account.policy import LoginPolicy

from .cluster_support import Node, device, start_cluster, start_node, stop_cluster
from .redis_servers import RedisForTests
from .test_durability import ADMIN

AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def _policy(node: Node) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=node.admin_url, timeout=20) as admin:
        response = await admin.get("/v1/policy", headers=AUTH)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


async def _a_silent_node_is_named(through: Node, paused: Node, other: Node) -> None:
    """A node that cannot answer in time (paused) is named in a 504; it puts the saved policy in force once it runs again."""
    dual = LoginPolicy.preset("dual").to_json()
    os.kill(paused.process.pid, signal.SIGSTOP)
    try:
        async with httpx.AsyncClient(base_url=through.admin_url, timeout=20) as admin:
            response = await admin.put("/v1/policy", headers=AUTH, json={"mode": "dual"})
    finally:
        os.kill(paused.process.pid, signal.SIGCONT)
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert paused.name in error and "did not confirm" in error, error
    assert await _policy(through) == dual  # saved and in force where it was set
    for node in (paused, other):  # the paused node takes it up when the announcement reaches it
        while await _policy(node) != dual:  # noqa: ASYNC110 - it answers the announcement once it runs again
            await trio.sleep(0.05)


async def test_a_policy_set_through_one_node_is_in_force_on_every_node(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    single = LoginPolicy.preset("single").to_json()
    with trio.fail_after(180):
        # asks of other nodes wait 2 s (half the ask timeout): less than the lease, so a node paused that long keeps it
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url, "--ask-timeout-s", "4")
        try:
            n1, n2, n3 = nodes
            assert await _policy(n2) == LoginPolicy.preset("multi").to_json()
            async with httpx.AsyncClient(base_url=n1.admin_url, timeout=20) as admin:
                response = await admin.put("/v1/policy", headers=AUTH, json={"mode": "single"})
            assert response.status_code == 200 and response.json() == single
            for node in (n2, n3):  # answered once every node had it in force
                assert await _policy(node) == single
            # single: one device per account, on whichever node each connects and the account lives
            for user in ("alice", "bob", "carol"):
                first = await device(nursery, n2.url, user, "iOS")
                await device(nursery, n3.url, user, "Android")
                assert await first.closed() == 4000, user
            n4 = await start_node(tmp_path, "n4", postgres_url, redis_server.url)
            nodes.append(n4)
            assert await _policy(n4) == single  # from the store at start
            await _a_silent_node_is_named(n1, n3, n4)
        finally:
            await stop_cluster(nodes)
