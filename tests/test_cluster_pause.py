"""A node paused (SIGSTOP) past its lease, then continued: it stops, and its devices resume elsewhere.

bob has a device on n2 and one on n3; carol, on n3, sends to bob while n3
is paused, and that send never reaches anyone. The other nodes take over
n3's actors once its lease expired; alice keeps sending to bob meanwhile.
When n3 continues it finds its lease lapsed: it lets no message reach its
actors, closes its devices with 4004 (reconnect with resumeFrom) and exits
with status 3. bob's device resumes through another node and has every
event of his stream once, without a gap.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import trio

from hubbub_client import ClientError, Disconnected

from .cluster_support import device, start_cluster, stop_cluster, until_live
from .messaging_support import assert_consecutive, durable, message_ids, send
from .redis_servers import RedisForTests


async def test_a_node_paused_past_its_lease_stops_and_its_devices_resume_elsewhere(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(240):
        nodes = await start_cluster(tmp_path, 3, postgres_url, redis_server.url, "--ask-timeout-s", "3")
        try:
            n1, n2, n3 = (n.url for n in nodes)
            paused = nodes[2].process
            alice = await device(nursery, [n1, n2], "alice", "iOS")
            bob_ios = await device(nursery, [n2, n1], "bob", "iOS")
            bob_mac = await device(nursery, [n3, n1, n2], "bob", "Mac")
            carol = await device(nursery, [n3, n1, n2], "carol", "iOS")
            before = [(await send(alice, "bob", f"before {i}"))["messageID"] for i in range(3)]

            os.kill(paused.pid, signal.SIGSTOP)
            stale_send: list[str] = []

            async def send_while_paused() -> None:
                try:
                    stale_send.append((await send(carol, "bob", "sent into the paused node"))["messageID"])
                except (ClientError, Disconnected, trio.TooSlowError):
                    pass  # refused, cut off, or no answer in time (the node is paused): it was never acknowledged

            nursery.start_soon(send_while_paused)
            await until_live(redis_server.url, {"n1", "n2"})  # n3's lease expired
            during = [(await send(alice, "bob", f"during {i}"))["messageID"] for i in range(3)]
            os.kill(paused.pid, signal.SIGCONT)
            with trio.fail_after(30):
                assert await paused.wait() == 3  # it found its lease lapsed and stopped
            after = [(await send(alice, "bob", f"after {i}"))["messageID"] for i in range(3)]

            expected = before + during + after
            for receiver in (bob_ios, bob_mac):
                events: list[dict[str, Any]] = []
                while not set(expected) <= set(message_ids(events)):
                    events.append(await receiver.next_event(timeout=60))
                assert message_ids(events) == expected  # once each, in order, and nothing from the paused send
                assert_consecutive(durable(events))  # no gap, no repeat, across the move
            assert bob_mac.resumes >= 1 and bob_mac.url != n3
            assert not stale_send, "the paused node acknowledged a send"
            await send(carol, "bob", "carol again")  # carol moved on too, to a node that serves her
        finally:
            if nodes[2].process.returncode is None:
                os.kill(nodes[2].process.pid, signal.SIGCONT)
            await stop_cluster(nodes)
