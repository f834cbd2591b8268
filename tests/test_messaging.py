"""Peer messages over real WebSockets with several devices per account (PROTOCOL.md §3, §6, §12).

Each user numbers its own view of a conversation (messageSeq 1, 2, 3...); a
peer conversation's ID, seen by each side, is the other user's ID. The
sender's other devices get the message with direction 0, every device of
the receiver with direction 1, and all of it is durable (carries `seq`).
"""

from __future__ import annotations

import time
from typing import Any

import trio

from hubbub_client import Client
from gateway.server import Gateway

from .conftest import Login, StartServer
from .messaging_support import (
    conversation,
    conversation_list,
    devices,
    fails,
    history,
    marker,
    message_ids,
    send,
    take_all,
    until,
)


def _is(name: str) -> Any:
    return lambda e: e.get("ev") == name


async def _received(client: Client, message_id: str) -> dict[str, Any]:
    """Take events up to the peerMessageReceived carrying `message_id`; return that message."""
    events = await until(client, lambda e: e.get("ev") == "peerMessageReceived" and message_ids([e]) == [message_id])
    message: dict[str, Any] = events[-1]["messageList"][0]
    return message


async def test_peer_message_reply_and_events_on_every_device(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        b1, b2 = await devices(login, server, "bob", 2)
        before = int(time.time() * 1000)
        sent = await send(a1, "bob", "hello bob", extendedData="ext")
        after = int(time.time() * 1000)
        assert isinstance(sent["messageID"], str) and sent["messageID"]
        assert before <= sent["timestamp"] <= after
        assert sent == {
            "messageID": sent["messageID"],
            "clientMessageID": None,
            "conversationID": "bob",
            "conversationType": 0,
            "senderUserID": "alice",
            "type": 1,
            "message": "hello bob",
            "extendedData": "ext",
            "timestamp": sent["timestamp"],
            "messageSeq": 1,
            "direction": 0,
            "receiptStatus": 0,
            "isRevoked": False,
        }

        # the sender's other devices: the same Message, then the new conversation
        for device in (a2, a3):
            got = await device.next_event("peerMessageReceived")
            assert got["fromConversationID"] == "bob"
            assert got["messageList"] == [sent]
            changed = await device.next_event("conversationChanged")
            assert changed["seq"] == got["seq"] + 1
            [info] = changed["infoList"]
            assert info["event"] == 0
            assert info["conversation"]["conversationID"] == "bob"
            assert info["conversation"]["unreadMessageCount"] == 0
            assert info["conversation"]["lastMessage"] == sent

        # every device of the receiver: direction 1, the conversation is "alice"
        expected = {**sent, "conversationID": "alice", "direction": 1}
        for device in (b1, b2):
            got = await device.next_event("peerMessageReceived")
            assert got["fromConversationID"] == "alice"
            assert got["messageList"] == [expected]
            changed = await device.next_event("conversationChanged")
            [info] = changed["infoList"]
            assert (info["event"], info["conversation"]["conversationID"]) == (0, "alice")
            assert info["conversation"]["unreadMessageCount"] == 1
            total = await device.next_event("conversationTotalUnreadMessageCountUpdated")
            assert total["totalUnreadMessageCount"] == 1
            assert [got["seq"], changed["seq"], total["seq"]] == [got["seq"], got["seq"] + 1, got["seq"] + 2]

        # bob answers from his second device: seq 2 in both views
        answer = await send(b2, "alice", "hi alice")
        assert (answer["conversationID"], answer["messageSeq"], answer["direction"]) == ("alice", 2, 0)
        assert (await _received(b1, answer["messageID"]))["direction"] == 0
        first_events = await until(a1, lambda e: message_ids([e]) == [answer["messageID"]])
        assert message_ids(first_events) == [answer["messageID"]]
        for device in (a2, a3):
            got = await _received(device, answer["messageID"])
            assert (got["conversationID"], got["messageSeq"], got["direction"], got["senderUserID"]) == ("bob", 2, 1, "bob")

        # the acting device got no event for its own send; the sender's devices no unread count
        leftovers = await marker(a1, [a2, a3], "bob", "m")
        for events in leftovers:
            assert [e["ev"] for e in events] == ["conversationChanged", "conversationTotalUnreadMessageCountUpdated"]
        assert [e["ev"] for e in await take_all(a1)] == ["conversationChanged", "conversationTotalUnreadMessageCountUpdated"]
        assert [(m["messageSeq"], m["direction"]) for m in await history(a1, "bob")] == [(2, 1), (1, 0)]
        assert [(m["messageSeq"], m["direction"]) for m in await history(b1, "alice")] == [(2, 0), (1, 1)]


async def test_message_to_own_devices_all_or_one(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        everyone = await send(a1, "alice", "note to self")
        assert (everyone["conversationID"], everyone["direction"], everyone["messageSeq"]) == ("alice", 0, 1)
        for device in (a2, a3):
            got = await device.next_event("peerMessageReceived")
            assert (got["fromConversationID"], got["messageList"]) == ("alice", [everyone])
            changed = await device.next_event("conversationChanged")
            assert changed["infoList"][0]["conversation"]["unreadMessageCount"] == 0

        only_a3 = await send(a1, "alice", "to the web device", toLoginID=a3.login_id)
        assert only_a3["messageSeq"] == 2
        assert (await a3.next_event("peerMessageReceived"))["messageList"] == [only_a3]
        await a3.next_event("conversationChanged")
        # a2 hears nothing of it: its next message is the one sent to all again
        again = await send(a1, "alice", "to all again")
        for device in (a2, a3):
            assert (await device.next_event("peerMessageReceived"))["messageList"] == [again]
        assert message_ids(await take_all(a2)) == []
        assert [m["messageID"] for m in await history(a2, "alice")] == [again["messageID"], only_a3["messageID"], everyone["messageID"]]
        # no unread count on one's own messages
        assert (await conversation(a2, "alice"))["unreadMessageCount"] == 0


async def test_client_message_id_makes_a_send_idempotent(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        b1, b2 = await devices(login, server, "bob", 2)
        first = await send(a1, "bob", "once", clientMessageID="local-1")
        assert first["clientMessageID"] == "local-1"
        # the same key from another device of the same user, and concurrently from two
        repeat = await send(a2, "bob", "once", clientMessageID="local-1")
        assert repeat == first
        answers: list[dict[str, Any]] = []

        async def again(device: Client) -> None:
            answers.append(await send(device, "bob", "twice?", clientMessageID="local-2"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(again, a1)
            nursery.start_soon(again, a3)
        assert answers[0] == answers[1]
        assert answers[0]["messageSeq"] == 2
        # bob's own "local-1" is another message
        bobs = await send(b1, "alice", "mine", clientMessageID="local-1")
        assert bobs["messageID"] != first["messageID"]

        last = await send(a1, "bob", "last")
        for device in (b1, b2):
            events = await until(device, lambda e: message_ids([e]) == [last["messageID"]])
            got = message_ids(events)
            if device is b1:
                assert got == [first["messageID"], answers[0]["messageID"], last["messageID"]]
            else:
                assert got == [first["messageID"], answers[0]["messageID"], bobs["messageID"], last["messageID"]]
        # a2 sent none of them first: it saw each exactly once; a3 may have sent local-2 itself
        events = await until(a2, lambda e: message_ids([e]) == [last["messageID"]])
        assert message_ids(events) == [first["messageID"], answers[0]["messageID"], bobs["messageID"], last["messageID"]]
        got = message_ids(await until(a3, lambda e: message_ids([e]) == [last["messageID"]]))
        assert len(got) == len(set(got)) and {first["messageID"], bobs["messageID"], last["messageID"]} <= set(got)
        assert [m["messageSeq"] for m in await history(b2, "alice")] == [4, 3, 2, 1]
        assert (await conversation(b2, "alice"))["unreadMessageCount"] == 3


async def test_message_types_and_bytes_bodies(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        blob = bytes(range(256)) * 4
        sent = [
            await send(a1, "bob", "text", type=1),
            await send(a1, "bob", '{"cmd":"typing"}', type=2),
            await send(a1, "bob", blob, type=200),
            await send(a1, "bob", "", type=200, extendedData="only ext"),
            await send(a1, "bob", "x" * 32 * 1024, type=1),  # exactly the limit
            await send(a1, "bob", "é" * (16 * 1024), type=1),  # 32 KiB of UTF-8
        ]
        assert [(m["type"], m["message"]) for m in sent[:4]] == [(1, "text"), (2, '{"cmd":"typing"}'), (200, blob), (200, "")]
        assert isinstance(sent[2]["message"], bytes)
        for device in (a2, b1):
            for message in sent:
                got = await _received(device, message["messageID"])
                assert (got["type"], got["message"], got["extendedData"]) == (message["type"], message["message"], message["extendedData"])
        stored = list(reversed(await history(b1, "alice")))
        assert [(m["type"], m["message"]) for m in stored] == [(m["type"], m["message"]) for m in sent]
        assert isinstance(stored[2]["message"], bytes)


async def test_too_large_body_is_refused_and_changes_nothing(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        first = await send(a1, "bob", "before")
        await _received(b1, first["messageID"])
        await fails(6002, send(a1, "bob", "x" * (33 * 1024)))
        await fails(6002, send(a1, "bob", b"\0" * (32 * 1024 + 1), type=200))
        await fails(6002, send(a1, "bob", "é" * (16 * 1024 + 1)))  # 16 K characters, 32 KiB + 2 bytes
        await fails(6002, send(a1, "carol", "x" * (33 * 1024)))  # a new conversation is not made either
        after = await send(a1, "bob", "after")
        assert after["messageSeq"] == 2
        assert message_ids(await until(b1, lambda e: message_ids([e]) == [after["messageID"]])) == [after["messageID"]]
        assert [m["messageID"] for m in await history(a2, "bob")] == [after["messageID"], first["messageID"]]
        assert [c["conversationID"] for c in await conversation_list(a2)] == ["bob"]
        got = await until(a2, lambda e: message_ids([e]) == [after["messageID"]])
        assert message_ids(got) == [first["messageID"], after["messageID"]]


async def test_history_pages_both_ways(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        (a1,) = await devices(login, server, "alice", 1)
        (b1,) = await devices(login, server, "bob", 1)
        ids = []
        for n in range(1, 26):
            sender, to = (b1, "alice") if n % 3 == 0 else (a1, "bob")
            ids.append((await send(sender, to, f"m{n}"))["messageID"])
        await until(b1, lambda e: message_ids([e]) == [ids[-1]])

        for client, peer in ((a1, "bob"), (b1, "alice")):
            newest = await history(client, peer, count=10)
            assert [m["messageSeq"] for m in newest] == list(range(25, 15, -1))
            older = await history(client, peer, count=10, nextMessageSeq=16)
            assert [m["messageSeq"] for m in older] == list(range(15, 5, -1))
            oldest = await history(client, peer, count=10, nextMessageSeq=6)
            assert [m["messageSeq"] for m in oldest] == [5, 4, 3, 2, 1]
            assert await history(client, peer, count=10, nextMessageSeq=1) == []
            forward = await history(client, peer, count=10, reverse=True)
            assert [m["messageSeq"] for m in forward] == list(range(1, 11))
            assert [m["messageSeq"] for m in await history(client, peer, count=10, nextMessageSeq=10, reverse=True)] == list(range(11, 21))
            assert [m["messageSeq"] for m in await history(client, peer, count=10, nextMessageSeq=20, reverse=True)] == list(range(21, 26))
            assert await history(client, peer, count=10, nextMessageSeq=25, reverse=True) == []
            everything = await history(client, peer, count=100, reverse=True)
            assert [m["messageID"] for m in everything] == ids
            assert [m["message"] for m in everything] == [f"m{n}" for n in range(1, 26)]
            mine = "alice" if client is a1 else "bob"
            assert all(m["direction"] == (0 if m["senderUserID"] == mine else 1) for m in everything)
            assert all(m["conversationID"] == peer for m in everything)
        # the default page is 20, newest first
        default = (await a1.request("queryHistoryMessage", conversationID="bob", conversationType=0))["messageList"]
        assert [m["messageSeq"] for m in default] == list(range(25, 5, -1))


async def test_revoke_reaches_both_parties_and_only_the_sender_may(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (c1,) = await devices(login, server, "carol", 1)
        sent = await send(a1, "bob", "oops")
        elsewhere = await send(a1, "carol", "for carol")
        for device in (b1, b2):
            await _received(device, sent["messageID"])
        await fails(4003, b1.request("revokeMessage", conversationID="alice", conversationType=0, messageID=sent["messageID"]))
        await fails(6001, a1.request("revokeMessage", conversationID="bob", conversationType=0, messageID="no-such-message"))
        await fails(6001, a1.request("revokeMessage", conversationID="bob", conversationType=0, messageID=elsewhere["messageID"]))
        await fails(6001, c1.request("revokeMessage", conversationID="alice", conversationType=0, messageID=sent["messageID"]))
        await fails(1003, a1.request("revokeMessage", conversationID="dave", conversationType=0, messageID=sent["messageID"]))

        revoked = (await a1.request("revokeMessage", conversationID="bob", conversationType=0, messageID=sent["messageID"]))["message"]
        assert revoked == {**sent, "isRevoked": True}
        for device, view in ((a2, revoked), (b1, None), (b2, None)):
            event = await device.next_event("messageRevokeReceived")
            assert "seq" in event
            [got] = event["messageList"]
            if view is None:
                view = {**sent, "isRevoked": True, "conversationID": "alice", "direction": 1}
            assert got == view
        assert (await history(a2, "bob"))[0]["isRevoked"] is True
        assert (await history(b2, "alice"))[0]["isRevoked"] is True
        # the conversation's last message is the revoked one on both sides
        assert (await conversation(a1, "bob"))["lastMessage"]["isRevoked"] is True
        assert (await conversation(b1, "alice"))["lastMessage"]["isRevoked"] is True
        # carol's message is untouched
        assert (await history(c1, "alice"))[0]["isRevoked"] is False


async def _snapshot(client: Client, peers: list[str]) -> dict[str, Any]:
    return {
        "list": await conversation_list(client),
        "history": {p: await history(client, p) for p in peers},
        "total": sum(c["unreadMessageCount"] for c in await conversation_list(client)),
    }


async def test_bad_requests_get_their_code_and_change_nothing(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        c1, d1 = (await devices(login, server, "carol", 1))[0], (await devices(login, server, "dave", 1))[0]
        to_alice = await send(b1, "alice", "hi alice", config={"hasReceipt": True})
        mine = await send(a1, "bob", "hi bob")
        theirs = await send(c1, "dave", "private")
        await _received(d1, theirs["messageID"])
        await marker(a1, [a2], "bob", "ready")  # a2 has had every event so far
        before = await _snapshot(a1, ["bob", "carol", "dave"])
        carol_before = await _snapshot(c1, ["dave", "alice"])

        body = {"type": 1, "message": "x"}
        bad_sends: list[tuple[int, dict[str, Any]]] = [
            (1003, {"conversationType": 0, "message": body}),
            (1003, {"toConversationID": 7, "conversationType": 0, "message": body}),
            (1003, {"toConversationID": "bad id", "conversationType": 0, "message": body}),
            (1003, {"toConversationID": "x" * 129, "conversationType": 0, "message": body}),
            (1003, {"toConversationID": "bob", "conversationType": 5, "message": body}),
            (1003, {"toConversationID": "bob", "conversationType": "0", "message": body}),
            (1003, {"toConversationID": "bob", "conversationType": 0}),
            (1003, {"toConversationID": "bob", "conversationType": 0, "message": "just text"}),
            (1003, {"toConversationID": "bob", "conversationType": 0, "message": {"type": 0, "message": "x"}}),
            (1003, {"toConversationID": "bob", "conversationType": 0, "message": {"type": 1, "message": 5}}),
            (1003, {"toConversationID": "bob", "conversationType": 0, "message": {"type": 1}}),
            (1003, {"toConversationID": "bob", "conversationType": 0, "message": body, "config": {"hasReceipt": "yes"}}),
            (1003, {"toConversationID": "bob", "conversationType": 0, "message": body, "clientMessageID": ""}),
        ]
        for code, fields in bad_sends:
            await fails(code, a1.request("sendMessage", **fields))

        peer = {"conversationID": "bob", "conversationType": 0}
        unknown = {"conversationID": "dave", "conversationType": 0}
        bad_ops: list[tuple[int, str, dict[str, Any]]] = [
            (1003, "queryHistoryMessage", {**peer, "config": {"count": 101}}),
            (1003, "queryHistoryMessage", {**peer, "config": {"count": 0}}),
            (1003, "queryHistoryMessage", {**peer, "config": {"nextMessageSeq": -1}}),
            (1003, "queryHistoryMessage", {**peer, "config": {"reverse": "yes"}}),
            (1003, "queryHistoryMessage", {"conversationID": "bob", "conversationType": 1}),
            (1003, "queryConversation", unknown),
            (1003, "queryConversation", {"conversationID": 3, "conversationType": 0}),
            (1003, "queryConversationList", {"config": {"count": 0}}),
            (1003, "queryConversationList", {"config": {"count": 10, "nextConversation": {"conversationID": "bob"}}}),
            (1003, "revokeMessage", {**peer}),
            (4003, "revokeMessage", {"conversationID": "bob", "conversationType": 0, "messageID": to_alice["messageID"]}),
            (6001, "revokeMessage", {**peer, "messageID": theirs["messageID"]}),
            (1003, "deleteMessages", {**peer, "messageIDs": [], "config": {"isAlsoDeleteServerMessage": True}}),
            (1003, "deleteMessages", {**peer, "messageIDs": "m", "config": {"isAlsoDeleteServerMessage": True}}),
            (1003, "deleteMessages", {**unknown, "messageIDs": [theirs["messageID"]], "config": {"isAlsoDeleteServerMessage": True}}),
            (6001, "deleteMessages", {**peer, "messageIDs": [theirs["messageID"]], "config": {"isAlsoDeleteServerMessage": True}}),
            (6001, "deleteMessages", {**peer, "messageIDs": [mine["messageID"], theirs["messageID"]], "config": {"isAlsoDeleteServerMessage": True}}),
            (6001, "deleteMessages", {**peer, "messageIDs": ["nope"], "config": {"isAlsoDeleteServerMessage": False}}),
            (1003, "deleteMessages", {**peer, "messageIDs": [mine["messageID"]], "config": {"isAlsoDeleteServerMessage": 1}}),
            (1003, "deleteAllMessage", {**unknown, "config": {"isAlsoDeleteServerMessage": True}}),
            (1003, "deleteAllConversationMessages", {"config": {"isAlsoDeleteServerMessage": "all"}}),
            (1003, "deleteConversation", unknown),
            (1003, "deleteAllConversations", {"config": {"isAlsoDeleteServerConversation": None}}),
            (1003, "clearConversationUnreadMessageCount", unknown),
            (1003, "clearConversationUnreadMessageCount", {"conversationID": "bob"}),
            (1003, "updateConversationPinnedState", {**unknown, "isPinned": True}),
            (1003, "updateConversationPinnedState", {**peer, "isPinned": "yes"}),
            (1003, "setConversationNotificationStatus", {**peer, "status": 3}),
            (1003, "setConversationNotificationStatus", {**unknown, "status": 2}),
            (1003, "setConversationDraft", {**peer, "draft": 5}),
            (1003, "setConversationDraft", {**peer, "draft": "d" * 4097}),
            (1003, "setConversationDraft", {**unknown, "draft": "d"}),
            (1003, "updateConversationMark", {**peer, "marks": [0], "isMarked": True}),
            (1003, "updateConversationMark", {**peer, "marks": [21], "isMarked": True}),
            (1003, "updateConversationMark", {**peer, "marks": [], "isMarked": True}),
            (1003, "updateConversationMark", {**unknown, "marks": [1], "isMarked": True}),
            (6001, "sendMessageReceiptsRead", {**peer, "messageIDs": [theirs["messageID"]]}),
            (1003, "sendMessageReceiptsRead", {**peer, "messageIDs": [mine["messageID"]]}),
            (1003, "sendMessageReceiptsRead", {**unknown, "messageIDs": [theirs["messageID"]]}),
            (1003, "sendConversationMessageReceiptRead", unknown),
            (6001, "queryMessageReceiptsInfo", {**peer, "messageIDs": [theirs["messageID"]]}),
            (1002, "noSuchOp", {}),
        ]
        for code, op, fields in bad_ops:
            await fails(code, a1.request(op, **fields))

        assert await _snapshot(a1, ["bob", "carol", "dave"]) == before
        assert {m["messageID"]: m["receiptStatus"] for m in await history(b1, "alice")}[to_alice["messageID"]] == 1
        # the other device of alice heard nothing but the marker; the connection still works
        [leftover] = await marker(a1, [a2], "bob", "still here")
        assert leftover == []
        # other users are unaffected and keep talking
        assert await _snapshot(c1, ["dave", "alice"]) == carol_before
        again = await send(c1, "dave", "still private")
        assert (await _received(d1, again["messageID"]))["messageSeq"] == 2
        reply = await send(b1, "alice", "and you?")
        for device in (a1, a2):
            assert (await _received(device, reply["messageID"]))["messageSeq"] == 3


async def test_message_to_one_own_device_reaches_that_device_only_live_and_on_resume(
    server: Gateway, login: Login
) -> None:
    with trio.fail_after(30):
        a = await login(server, "solo", device="A", platform="iOS")
        b = await login(server, "solo", device="B", platform="Windows")
        c = await login(server, "solo", device="C", platform="Web")
        before = c.last_seq
        await c.close()
        body = {"type": 1, "message": "for B only"}
        await a.request("sendMessage", toConversationID="solo", conversationType=0, message=body, toLoginID=b.login_id)
        live = await b.next_event("peerMessageReceived")
        assert live["messageList"][0]["message"] == "for B only"
        marker = {"type": 1, "message": "for everyone"}
        await a.request("sendMessage", toConversationID="solo", conversationType=0, message=marker)
        # C comes back: the marker is replayed, the message for B is not
        await c.reconnect()
        replayed = await c.next_event("peerMessageReceived")
        assert replayed["messageList"][0]["message"] == "for everyone"
        assert replayed["seq"] > before
        # B comes back from before both: it gets its own message again, then the marker
        b_before = live["seq"] - 1
        await b.close()
        b.last_seq = b_before
        await b.reconnect()
        texts: list[str] = []
        while len(texts) < 2:
            event = await b.next_event("peerMessageReceived")
            texts.append(event["messageList"][0]["message"])
        assert "for B only" in texts and "for everyone" in texts
