"""A group's fan-out across three nodes while the node that hosts the group is killed (SIGKILL).

The group's actor lives on n3, and so do one device of bob's and dave's
only device; alice (on n1) and carol (on n2) send to the group without
pause. n3 is killed after some sends were ok'd: its lease runs out, the
group and the accounts it held come back on n1 and n2 from the store, and
the devices from n3 resume through another node. In the end every member
device has every ok'd group message exactly once, each sender's in the
order they were ok'd.
"""

from __future__ import annotations

from pathlib import Path

import trio

from actors.bus.placement import owner_of
from actors.runtime import Address

from .cluster_support import assert_each_once_in_order, device, send_around, start_cluster, stop_cluster
from .redis_servers import RedisForTests
from .test_durability import _kill

ACKED_BEFORE_KILL = 10  # by each sender
ACKED_AFTER_KILL = 10
GROUP = next(g for g in (f"g{i}" for i in range(100)) if owner_of(Address("group", g), ("n1", "n2", "n3")) == "n3")


async def test_group_messages_reach_every_member_once_in_order_across_a_kill_9_of_the_groups_node(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(240):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url, "--ask-timeout-s", "3")
        try:
            n1, n2, n3 = (n.url for n in nodes)
            alice = await device(nursery, [n1, n2], "alice", "iOS")
            carol = await device(nursery, [n2, n1], "carol", "iOS")
            bob_ios = await device(nursery, [n2, n1, n3], "bob", "iOS")
            bob_mac = await device(nursery, [n3, n1, n2], "bob", "Mac")
            dave = await device(nursery, [n3, n2, n1], "dave", "iOS")
            await alice.request("createGroup", groupInfo={"groupID": GROUP, "groupName": "G"}, userIDs=["bob", "carol", "dave"])
            for member in (carol, bob_ios, bob_mac, dave):
                await member.next_event("groupStateChanged", timeout=30)

            acked = await send_around(
                {"alice": alice, "carol": carol}, GROUP, ACKED_BEFORE_KILL, ACKED_AFTER_KILL,
                lambda: _kill(nodes[2].process), conversation_type=2,
            )
            await assert_each_once_in_order([bob_ios, bob_mac, dave], acked, "groupMessageReceived")
            assert bob_mac.resumes >= 1 and bob_mac.url != n3
            assert dave.resumes >= 1 and dave.url != n3
        finally:
            await stop_cluster(nodes)
