"""The outbound queue is bounded in bytes as well as frames (close 1013, one warning per episode)."""

from __future__ import annotations

import logging

import pytest
import trio

from .cluster_servers import node_holding, session_of
from .conftest import Login, StartServer
from .messaging_support import stall_writes

BIG = "x" * (30 * 1024)  # a 30 KiB message: three of them pass a 64 KiB bound


async def test_a_device_holding_too_many_bytes_is_closed_once_and_resumes(
    start_server: StartServer, login: Login, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hubbub.session")
    server = await start_server("multi", outbound_queue=512, outbound_queue_bytes=64 * 1024)
    with trio.fail_after(30):
        alice = await login(server, "alice")
        bob = await login(server, "bob", device="B1")
        before = bob.last_seq
        release = stall_writes(server, bob)
        holder = node_holding(server, bob.login_id)  # the node bob's session is on
        session = session_of(server, bob.login_id)
        sent = []
        for n in range(10):  # far past 64 KiB, far below 512 frames
            reply = await alice.request("sendMessage", toConversationID="bob", conversationType=0, message={"type": 1, "message": f"{n}{BIG}"})
            sent.append(reply["message"]["messageID"])
        assert len(session.outbound) < 512
        assert session.outbound.bytes <= 64 * 1024
        warnings = [r for r in caplog.records if "slow consumer" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert holder.directory.slow_disconnects == 1
        assert holder.metrics.registry.get_sample_value("hubbub_slow_consumer_closes_total", {"bound": "bytes"}) == 1
        assert holder.metrics.registry.get_sample_value("hubbub_slow_consumer_closes_total", {"bound": "frames"}) is None
        release.set()
        assert await bob.closed() == 1013

        bob.last_seq = before
        reply = await bob.reconnect()
        assert reply["resumeGap"] is False
        got = [(await bob.next_event("peerMessageReceived"))["messageList"][0]["messageID"] for _ in sent]
        assert got == sent

