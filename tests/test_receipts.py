"""Read receipts in peer conversations across devices (PROTOCOL.md §7).

The sender's devices hear of a read with `isSelfOperated: false`; the
reader's other devices with `isSelfOperated: true`. In a peer conversation
the status becomes 2 (Done) at once.
"""

from __future__ import annotations

from typing import Any

import trio

from hubbub_client import Client

from .conftest import Login, StartServer
from .messaging_support import devices, fails, history, marker, message_ids, send, until

PEER = 0
WITH_RECEIPT: dict[str, Any] = {"config": {"hasReceipt": True}}


async def _delivered(client: Client, message: dict[str, Any]) -> dict[str, Any]:
    events = await until(client, lambda e: message_ids([e]) == [message["messageID"]])
    got: dict[str, Any] = events[-1]["messageList"][0]
    return got


def _status(messages: list[dict[str, Any]]) -> dict[str, int]:
    return {m["messageID"]: m["receiptStatus"] for m in messages}


async def test_has_receipt_makes_receipt_status_processing(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        with_receipt = await send(a1, "bob", "read me", **WITH_RECEIPT)
        without = await send(a1, "bob", "no receipt")
        assert (with_receipt["receiptStatus"], without["receiptStatus"]) == (1, 0)
        for device in (a2, b1):
            assert (await _delivered(device, with_receipt))["receiptStatus"] == 1
            assert (await _delivered(device, without))["receiptStatus"] == 0
        assert _status(await history(b1, "alice")) == {with_receipt["messageID"]: 1, without["messageID"]: 0}
        assert _status(await history(a2, "bob")) == {with_receipt["messageID"]: 1, without["messageID"]: 0}


async def test_reading_messages_tells_the_sender_and_the_readers_other_devices(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2, b3 = await devices(login, server, "bob", 3)
        first = await send(a1, "bob", "one", **WITH_RECEIPT)
        second = await send(a1, "bob", "two", **WITH_RECEIPT)
        plain = await send(a1, "bob", "three")
        for device in (b1, b2, b3):
            await _delivered(device, plain)
        await marker(a2, [a1], "bob", "sent")

        reply = await b2.request("sendMessageReceiptsRead", conversationID="alice", conversationType=PEER, messageIDs=[first["messageID"]])
        expected = {
            "conversationID": "alice", "conversationType": PEER, "messageID": first["messageID"],
            "status": 2, "readMemberCount": 1, "unreadMemberCount": 0, "isSelfOperated": True,
        }
        assert reply["infos"] == [expected]
        for device in (b1, b3):
            event = await device.next_event("messageReceiptChanged")
            assert "seq" in event
            assert event["infos"] == [expected]
        # both of the sender's devices, including the one that sent it
        for device in (a1, a2):
            event = await device.next_event("messageReceiptChanged")
            assert "seq" in event
            assert event["infos"] == [{**expected, "conversationID": "bob", "isSelfOperated": False}]
        assert _status(await history(a1, "bob"))[first["messageID"]] == 2
        assert _status(await history(b1, "alice")) == {first["messageID"]: 2, second["messageID"]: 1, plain["messageID"]: 0}

        infos = (await a2.request("queryMessageReceiptsInfo", conversationID="bob", conversationType=PEER,
                                  messageIDs=[first["messageID"], second["messageID"]]))["infos"]
        assert {i["messageID"]: (i["status"], i["readMemberCount"], i["unreadMemberCount"]) for i in infos} == {
            first["messageID"]: (2, 1, 0), second["messageID"]: (1, 0, 1),
        }
        assert all(i["conversationID"] == "bob" and i["conversationType"] == PEER for i in infos)
        infos = (await b3.request("queryMessageReceiptsInfo", conversationID="alice", conversationType=PEER,
                                  messageIDs=[second["messageID"]]))["infos"]
        assert [(i["conversationID"], i["status"]) for i in infos] == [("alice", 1)]

        # what cannot be marked read: messages without a receipt, one's own, others'
        await fails(1003, b1.request("sendMessageReceiptsRead", conversationID="alice", conversationType=PEER, messageIDs=[plain["messageID"]]))
        mine = await send(b1, "alice", "bob's own", **WITH_RECEIPT)
        await fails(1003, b1.request("sendMessageReceiptsRead", conversationID="alice", conversationType=PEER, messageIDs=[mine["messageID"]]))
        await fails(6001, b1.request("sendMessageReceiptsRead", conversationID="alice", conversationType=PEER, messageIDs=["unknown"]))
        await fails(6001, a1.request("queryMessageReceiptsInfo", conversationID="bob", conversationType=PEER, messageIDs=["unknown"]))
        assert _status(await history(a1, "bob"))[second["messageID"]] == 1


async def test_reading_a_whole_conversation_both_ways(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        to_bob = [await send(a1, "bob", f"a{n}", **WITH_RECEIPT) for n in range(3)]
        to_alice = [await send(b1, "alice", f"b{n}", **WITH_RECEIPT) for n in range(2)]
        await _delivered(b2, to_bob[-1])
        await _delivered(a2, to_alice[-1])

        await b2.request("sendConversationMessageReceiptRead", conversationID="alice", conversationType=PEER)
        event = await b1.next_event("conversationMessageReceiptChanged")
        [info] = event["infos"]
        assert "seq" in event
        assert (info["conversationID"], info["conversationType"], info["isSelfOperated"]) == ("alice", PEER, True)
        assert isinstance(info["readTime"], int)
        for device in (a1, a2):
            event = await device.next_event("conversationMessageReceiptChanged")
            [info] = event["infos"]
            assert (info["conversationID"], info["conversationType"], info["isSelfOperated"]) == ("bob", PEER, False)
        assert set(_status(await history(a1, "bob")).items()) >= {(m["messageID"], 2) for m in to_bob}
        # bob's own messages are untouched by his reading
        assert {m["messageID"]: 1 for m in to_alice}.items() <= _status(await history(b1, "alice")).items()

        # and the other way
        await a1.request("sendConversationMessageReceiptRead", conversationID="bob", conversationType=PEER)
        assert (await a2.next_event("conversationMessageReceiptChanged"))["infos"][0]["isSelfOperated"] is True
        for device in (b1, b2):
            event = await device.next_event("conversationMessageReceiptChanged")
            assert [(i["conversationID"], i["isSelfOperated"]) for i in event["infos"]] == [("alice", False)]
        assert set(_status(await history(b2, "alice")).values()) == {2}
        assert set(_status(await history(a2, "bob")).values()) == {2}
