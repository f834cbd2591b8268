"""PostgreSQL unreachable under a two-node cluster: requests on either node fail with 9001, nothing is half-applied, service returns.

The test owns its PostgreSQL (it stops the server under the running nodes
and starts it again on the same socket). alice's device is on n1 and bob's
on n2, so each send crosses the bus to the node that owns its account.

Each node's pool reconnects on its own: n1 may store alice's message while
n2 cannot reach the server yet, so bob's account cannot start to take it and
drops the delivery it was told; n2 wakes it once the store answers again
(gateway/wake_after_outage.py), and bob gets the message without a send of his own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from hubbub_client import ClientError

from .cluster_support import device, start_cluster, stop_cluster
from .messaging_support import history, message_ids, send
from .redis_servers import RedisForTests
from .store_engines import EmbeddedPostgres
from .test_postgres_outage import _until_served, own_postgres  # noqa: F401 - own_postgres is a fixture


async def test_both_nodes_refuse_with_9001_while_postgresql_is_down_and_serve_again_once_it_is_back(
    nursery: trio.Nursery, tmp_path: Path, own_postgres: EmbeddedPostgres, redis_server: RedisForTests  # noqa: F811
) -> None:
    with trio.fail_after(240):
        nodes = await start_cluster(tmp_path, 2, own_postgres.url("hubbub"), redis_server.url, "--ask-timeout-s", "30")
        try:
            n1, n2 = (n.url for n in nodes)
            alice = await device(nursery, n1, "alice", "iOS")
            bob = await device(nursery, n2, "bob", "iOS")
            before = await send(alice, "bob", "before")
            assert message_ids([await bob.next_event("peerMessageReceived", timeout=30)]) == [before["messageID"]]
            await trio.to_thread.run_sync(own_postgres.stop)

            for sender, to in ((alice, "bob"), (bob, "alice")):
                with pytest.raises(ClientError) as refused:
                    await sender.request(
                        "sendMessage", toConversationID=to, conversationType=0, message={"type": 1, "message": "during"}, timeout=60
                    )
                assert refused.value.code == 9001, refused.value

            await trio.to_thread.run_sync(own_postgres.start)
            after = await _until_served(alice, "bob", "after")
            assert message_ids([await bob.next_event("peerMessageReceived", timeout=30)]) == [after["messageID"]]
            back = await _until_served(bob, "alice", "back")
            assert message_ids([await alice.next_event("peerMessageReceived", timeout=30)]) == [back["messageID"]]
            # nothing of the refused sends was stored, on either side
            assert [m["message"] for m in await history(bob, "alice")] == ["back", "after", "before"]
            assert [m["message"] for m in await history(alice, "bob")] == ["back", "after", "before"]
        finally:
            await stop_cluster(nodes)
