"""A device that stops reading is closed (1013) instead of growing memory, and catches up by resuming."""

from __future__ import annotations

import trio

from hubbub_client import Client
from gateway.server import Gateway

from .cluster_servers import node_holding
from .conftest import Login, StartServer
from .messaging_support import stall_writes


async def _alice_and_bob_on_two_devices(server: Gateway, login: Login) -> tuple[Client, Client, Client]:
    """alice, and bob's devices B1 (the one the tests stall) and B2."""
    alice = await login(server, "alice")
    bob = await login(server, "bob", device="B1")
    return alice, bob, await login(server, "bob", device="B2", platform="Windows")


async def test_a_device_that_stops_reading_is_closed_and_resumes_without_loss(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi", outbound_queue=8)
    with trio.fail_after(30):
        alice, bob, bob_other = await _alice_and_bob_on_two_devices(server, login)
        before = bob.last_seq

        # bob's first device stops draining: its writer hangs on the next frame
        release = stall_writes(server, bob)
        sent = []
        for n in range(20):  # 3 durable events each for bob: far past 8 queued frames
            reply = await alice.request(
                "sendMessage", toConversationID="bob", conversationType=0, message={"type": 1, "message": f"m{n}"}
            )
            sent.append(reply["message"]["messageID"])
        # the sender and bob's other device are not held back by the slow one
        seen_by_other: set[str] = set()
        while len(seen_by_other) < 20:
            event = await bob_other.next_event("peerMessageReceived")
            seen_by_other.add(event["messageList"][0]["messageID"])
        assert seen_by_other == set(sent)
        assert node_holding(server, bob.login_id).directory.slow_disconnects >= 1
        release.set()
        assert await bob.closed() == 1013

        # bob comes back from where it was and gets every message, in order, once
        bob.last_seq = before
        reply = await bob.reconnect()
        assert reply["resumeGap"] is False
        got: list[str] = []
        while len(got) < 20:
            event = await bob.next_event("peerMessageReceived")
            got.append(event["messageList"][0]["messageID"])
        assert got == sent


async def test_a_stalled_member_device_holds_back_no_one_in_a_group(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi", outbound_queue=8)
    with trio.fail_after(30):
        alice, bob, bob_other = await _alice_and_bob_on_two_devices(server, login)
        carol = await login(server, "carol")
        await alice.request("createGroup", groupInfo={"groupID": "g1", "groupName": "g1"}, userIDs=["bob", "carol"])
        await bob.next_event("groupStateChanged")
        before = bob.last_seq

        release = stall_writes(server, bob)
        sent = []
        for n in range(20):  # 3 durable events each for every member device
            reply = await alice.request(
                "sendMessage", toConversationID="g1", conversationType=2, message={"type": 1, "message": f"m{n}"}
            )
            sent.append(reply["message"]["messageID"])
        for other in (carol, bob_other):
            got = [(await other.next_event("groupMessageReceived"))["messageList"][0]["messageID"] for _ in sent]
            assert got == sent
        assert node_holding(server, bob.login_id).directory.slow_disconnects == 1
        release.set()
        assert await bob.closed() == 1013

        bob.last_seq = before
        reply = await bob.reconnect()
        assert reply["resumeGap"] is False
        got = [(await bob.next_event("groupMessageReceived"))["messageList"][0]["messageID"] for _ in sent]
        assert got == sent and not bob.pending_events("groupMessageReceived")
