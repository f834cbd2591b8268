"""Each node's admin API answers for the whole cluster: a policy set through one node is in force on every node.

Three real nodes on one PostgreSQL and one Redis, started with policy
`multi`. A `PUT /v1/policy` on n1's admin API reaches n2 and n3 over the
bus; logins on the other nodes then follow it, whichever node owns the
account; and a node started later finds it in the store.
"""

from __future__ import annotations

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


async def test_a_policy_set_through_one_node_is_in_force_on_every_node(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    single = LoginPolicy.preset("single").to_json()
    with trio.fail_after(180):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url)
        try:
            n1, n2, n3 = nodes
            assert await _policy(n2) == LoginPolicy.preset("multi").to_json()
            async with httpx.AsyncClient(base_url=n1.admin_url, timeout=20) as admin:
                response = await admin.put("/v1/policy", headers=AUTH, json={"mode": "single"})
            assert response.status_code == 200 and response.json() == single
            for node in (n2, n3):
                while await _policy(node) != single:  # noqa: ASYNC110 - the announcement crosses the bus
                    await trio.sleep(0.05)
            # single: one device per account, on whichever node each connects and the account lives
            for user in ("alice", "bob", "carol"):
                first = await device(nursery, n2.url, user, "iOS")
                await device(nursery, n3.url, user, "Android")
                assert await first.closed() == 4000, user
            n4 = await start_node(tmp_path, "n4", postgres_url, redis_server.url)
            nodes.append(n4)
            assert await _policy(n4) == single  # from the store at start
        finally:
            await stop_cluster(nodes)
