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

from hubbub_client import Client, ClientError, Disconnected

from .cluster_support import start_cluster, stop_cluster
from .conftest import token
from .messaging_support import message_ids, send
from .redis_servers import RedisForTests
from .test_durability import _kill

ACKED_BEFORE_KILL = 20  # by each sender
ACKED_AFTER_KILL = 10


async def _device(nursery: trio.Nursery, urls: list[str], user_id: str, platform: str) -> Client:
    client = Client(urls, nursery, auto_resume=True)
    await client.connect()
    await client.login(user_id, token(user_id), platform=platform, device_id=f"{user_id}-{platform}")
    return client


async def test_kill_9_of_a_node_loses_and_repeats_no_acknowledged_message(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(240):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url, "--ask-timeout-s", "3")
        try:
            n1, n2, n3 = (n.url for n in nodes)
            bob_ios = await _device(nursery, [n2, n1, n3], "bob", "iOS")
            bob_mac = await _device(nursery, [n3, n1, n2], "bob", "Mac")
            senders = {"alice": await _device(nursery, [n1, n2], "alice", "iOS"), "carol": await _device(nursery, [n2, n1], "carol", "iOS")}
            acked: dict[str, list[str]] = {name: [] for name in senders}
            killed = trio.Event()

            async def keep_sending(name: str) -> None:
                client, n = senders[name], 0
                while len(acked[name]) < ACKED_BEFORE_KILL + ACKED_AFTER_KILL:
                    if len(acked[name]) >= ACKED_BEFORE_KILL and not killed.is_set():
                        await killed.wait()
                    try:
                        message = await send(client, "bob", f"{name}-{n}")
                        acked[name].append(message["messageID"])
                    except (ClientError, Disconnected):
                        await trio.sleep(0.1)  # not ok'd (its owner was lost): never counted
                    n += 1

            async def kill_when_ready() -> None:
                while any(len(ids) < ACKED_BEFORE_KILL // 2 for ids in acked.values()):  # noqa: ASYNC110
                    await trio.sleep(0.01)
                await _kill(nodes[2].process)  # SIGKILL n3 while the senders send
                killed.set()

            async with trio.open_nursery() as sending:
                sending.start_soon(kill_when_ready)
                for name in senders:
                    sending.start_soon(keep_sending, name)

            everything = {mid for ids in acked.values() for mid in ids}
            for device in (bob_ios, bob_mac):
                got: list[str] = []
                while not everything <= set(got):
                    got.extend(message_ids([await device.next_event("peerMessageReceived", timeout=60)]))
                assert len(got) == len(set(got)), "a message arrived twice"
                for name, ids in acked.items():
                    assert [mid for mid in got if mid in set(ids)] == ids, f"{name}'s messages out of order"
            assert bob_mac.resumes >= 1 and bob_mac.url != n3
        finally:
            await stop_cluster(nodes)
