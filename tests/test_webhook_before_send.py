"""beforeSendMessage (PROTOCOL.md §17): allow, reject (6003), modify, and a failing backend in both of the operator's modes."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from gateway.server import Gateway

from .conftest import Login, StartServer
from .messaging_support import fails, history, send
from .webhook_support import Receiver, hooked, serve_receiver


async def _setup(nursery: trio.Nursery, start_server: StartServer, receiver: Receiver, **overrides: Any) -> Gateway:
    await nursery.start(serve_receiver, receiver)
    return await start_server("multi", **hooked(receiver, before_send=True, webhook_events="", **overrides))


async def test_allow_sends_the_message_as_it_is_and_the_backend_sees_what_is_about_to_be_stored(
    nursery: trio.Nursery, start_server: StartServer, login: Login
) -> None:
    receiver = Receiver()
    server = await _setup(nursery, start_server, receiver)
    with trio.fail_after(30):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        sent = await send(alice, "bob", "hello", clientMessageID="c1", extendedData="x")
        assert sent["message"] == "hello"
        assert (await bob.next_event("peerMessageReceived"))["messageList"][0]["message"] == "hello"
        (asked,) = [c for c in receiver.calls if c.event == "beforeSendMessage"]
        assert asked.json == {
            "userID": "alice", "loginID": alice.login_id, "conversationID": "bob", "conversationType": 0, "clientMessageID": "c1",
            "message": {"type": 1, "message": "hello", "extendedData": "x", "binary": False},
        }


async def test_reject_refuses_with_6003_and_nothing_is_stored_or_delivered(
    nursery: trio.Nursery, start_server: StartServer, login: Login
) -> None:
    receiver = Receiver(verdict=lambda asked: {"action": "reject", "reason": "no swearing"})
    server = await _setup(nursery, start_server, receiver)
    with trio.fail_after(30):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        error = await fails(6003, send(alice, "bob", "a bad word"))
        assert "no swearing" in error.message
        await alice.request("createGroup", groupInfo={"groupID": "g1", "groupName": "team"}, userIDs=["bob"])
        await fails(6003, alice.request("sendMessage", toConversationID="g1", conversationType=2, message={"type": 1, "message": "x"}))
        assert await history(alice, "bob") == [] and await history(bob, "alice") == []
        assert await history(alice, "g1", 2) == []
        assert bob.pending_events("peerMessageReceived") == [] and bob.pending_events("groupMessageReceived") == []


async def test_modify_stores_and_delivers_the_returned_body_checked_like_a_clients(
    nursery: trio.Nursery, start_server: StartServer, login: Login
) -> None:
    def verdict(asked: dict[str, Any]) -> dict[str, Any]:
        text = asked["message"]["message"]
        if text == "too big":
            return {"action": "modify", "message": {"type": 1, "message": "x" * (33 * 1024)}}
        if text == "bad type":
            return {"action": "modify", "message": {"type": 0, "message": "typed zero"}}
        return {"action": "modify", "message": {"type": 2, "message": text.replace("darn", "****"), "extendedData": "moderated"}}

    receiver = Receiver(verdict=verdict)
    server = await _setup(nursery, start_server, receiver)
    with trio.fail_after(30):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        sent = await send(alice, "bob", "oh darn")
        assert (sent["type"], sent["message"], sent["extendedData"]) == (2, "oh ****", "moderated")
        got = (await bob.next_event("peerMessageReceived"))["messageList"][0]
        assert (got["type"], got["message"], got["extendedData"]) == (2, "oh ****", "moderated")
        assert [m["message"] for m in await history(bob, "alice")] == ["oh ****"]
        # A body a client could not send counts as a failed call: fail open sends the original.
        assert (await send(alice, "bob", "too big"))["message"] == "too big"
        assert (await send(alice, "bob", "bad type"))["message"] == "bad type"


async def test_a_backend_that_hangs_fails_open_by_default_within_the_timeout(
    nursery: trio.Nursery, start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(hang=True)
    server = await _setup(nursery, start_server, receiver)
    with trio.fail_after(60):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        started = trio.current_time()
        sent = await send(alice, "bob", "still goes")
        waited = trio.current_time() - started
        assert 2.0 <= waited < 3.0, waited  # the default timeout, 2 s
        assert (await bob.next_event("peerMessageReceived"))["messageList"][0]["messageID"] == sent["messageID"]


async def test_fail_closed_refuses_with_6004_when_the_backend_times_out_or_errs(
    nursery: trio.Nursery, start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(hang=True)
    server = await _setup(nursery, start_server, receiver, before_send_fail="closed", before_send_timeout_s=0.5)
    with trio.fail_after(60):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        started = trio.current_time()
        await fails(6004, send(alice, "bob", "held back"))
        assert 0.5 <= trio.current_time() - started < 1.5
        receiver.hang = False
        receiver.verdict = lambda asked: {"action": "explode"}  # not a verdict this server knows
        await fails(6004, send(alice, "bob", "held back too"))
        receiver.verdict = lambda asked: {"action": "allow"}
        sent = await send(alice, "bob", "through")
        assert (await bob.next_event("peerMessageReceived"))["messageList"][0]["messageID"] == sent["messageID"]
        assert [m["messageID"] for m in await history(bob, "alice")] == [sent["messageID"]]  # nothing of the refused ones
        text = server.metrics.exposition().decode()
        assert 'hubbub_before_send_seconds_count{outcome="failed"} 2.0' in text
        assert 'hubbub_before_send_seconds_count{outcome="allow"} 1.0' in text
