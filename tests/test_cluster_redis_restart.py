"""Redis restarted (empty) under load: every acknowledged message still reaches every receiving device once.

Two nodes; alice (on n1) and carol (on n2) send to bob, who has a device on
each node. Redis is killed and started again, empty, while they send:
envelopes in its streams are gone, asks in flight time out (not ok'd),
and the membership is rebuilt from the next renewals. What was ok'd is in
the store; each node, once Redis answers again, has its accounts take the
deliveries that an envelope lost would have carried.
"""

from __future__ import annotations

from pathlib import Path

import trio

from .cluster_support import assert_each_once_in_order, device, send_around, start_cluster, stop_cluster
from .redis_servers import RedisForTests

ACKED_BEFORE_RESTART = 15  # by each sender
ACKED_AFTER_RESTART = 15


async def test_redis_restarted_under_load_loses_no_acknowledged_message(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(240):
        nodes = await start_cluster(tmp_path, 2, postgres_url, redis_server.url, "--ask-timeout-s", "3", "--log-level", "INFO")
        try:
            n1, n2 = (n.url for n in nodes)
            bob = [await device(nursery, [n1, n2], "bob", "iOS"), await device(nursery, [n2, n1], "bob", "Mac")]
            senders = {"alice": await device(nursery, [n1, n2], "alice", "iOS"), "carol": await device(nursery, [n2, n1], "carol", "iOS")}

            async def restart() -> None:
                redis_server.restart()  # SIGKILL, then a new empty server on the same port

            acked = await send_around(senders, "bob", ACKED_BEFORE_RESTART, ACKED_AFTER_RESTART, restart)
            await assert_each_once_in_order(bob, acked)
            assert all(n.process.returncode is None for n in nodes)  # no node lapsed
        finally:
            await stop_cluster(nodes)
