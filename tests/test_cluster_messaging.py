"""Three nodes on one PostgreSQL and one Redis: one account's devices spread over nodes, messages between them.

The nodes are real `hubbub serve` processes; the devices connect to
different ones, so every event below crossed the bus from the node that
owns the account actor to the node that holds the device's socket.
"""

from __future__ import annotations

from pathlib import Path

import trio

from .cluster_support import device, start_cluster, stop_cluster
from .messaging_support import conversation, message_ids, send, until
from .redis_servers import RedisForTests


async def test_a_message_sent_on_one_node_reaches_devices_on_the_others(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(150):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url)
        try:
            n1, n2, n3 = (n.url for n in nodes)
            alice_ios = await device(nursery, n1, "alice", "iOS")
            alice_mac = await device(nursery, n2, "alice", "Mac")
            bob_ios = await device(nursery, n2, "bob", "iOS")
            bob_mac = await device(nursery, n3, "bob", "Mac")
            sent = [await send(alice_ios, "bob", f"hello {i}") for i in range(5)]
            ids = [m["messageID"] for m in sent]
            for receiver in (bob_ios, bob_mac, alice_mac):
                got = message_ids(await until(receiver, lambda e: message_ids([e]) == ids[-1:], timeout=20))
                assert got == ids  # every one, once, in order
            assert [(await conversation(receiver, "alice"))["unreadMessageCount"] for receiver in (bob_ios, bob_mac)] == [5, 5]
            reply = await send(bob_mac, "alice", "hi back")
            for receiver in (alice_ios, alice_mac, bob_ios):
                assert message_ids(await until(receiver, lambda e: message_ids([e]) == [reply["messageID"]], timeout=20)) == [reply["messageID"]]
        finally:
            await stop_cluster(nodes)
