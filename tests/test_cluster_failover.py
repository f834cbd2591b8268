"""A node of three killed with SIGKILL while senders send: nothing acknowledged is lost or doubled.

alice (on n1) and carol (on n2) send to bob without pause; bob has a device
on n2 and one on n3, each given every node's URL so that it moves on when
its connection is lost. n3 is killed (kill -9) after some sends were ok'd.
Its lease runs out, its actors come back on n1 and n2 from the store, and
bob's device from n3 resumes through another node with resumeFrom. In the
end each of bob's devices has every ok'd message exactly once, each
sender's in the order they were ok'd.
"""

from __future__ import annotations

from pathlib import Path

import trio

from .cluster_support import assert_each_once_in_order, device, send_around, start_cluster, stop_cluster
from .redis_servers import RedisForTests
from .test_durability import _kill

ACKED_BEFORE_KILL = 20  # by each sender
ACKED_AFTER_KILL = 10


async def test_kill_9_of_a_node_loses_and_repeats_no_acknowledged_message(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(240):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url, "--ask-timeout-s", "3")
        try:
            n1, n2, n3 = (n.url for n in nodes)
            bob_ios = await device(nursery, [n2, n1, n3], "bob", "iOS")
            bob_mac = await device(nursery, [n3, n1, n2], "bob", "Mac")
            senders = {"alice": await device(nursery, [n1, n2], "alice", "iOS"), "carol": await device(nursery, [n2, n1], "carol", "iOS")}
            acked = await send_around(senders, "bob", ACKED_BEFORE_KILL, ACKED_AFTER_KILL, lambda: _kill(nodes[2].process))
            await assert_each_once_in_order([bob_ios, bob_mac], acked)
            assert bob_mac.resumes >= 1 and bob_mac.url != n3
        finally:
            await stop_cluster(nodes)
