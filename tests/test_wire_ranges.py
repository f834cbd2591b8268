"""Wire integers that reach the store are range-checked there (PROTOCOL.md §12, error 1003).

A CBOR uint may be as large as 2^64 - 1, but the store's INTEGER is signed
64 bits: a seq, cursor or order key beyond it is out of range (1003, nothing
changed), never an internal error (9000); the largest value the store holds
still works.
"""

from __future__ import annotations

import trio

from tests.conftest import Login, StartServer
from tests.messaging_support import devices, fails, history, send

BEYOND = 2**63  # the smallest uint the store cannot hold
LARGEST = 2**63 - 1


async def test_history_cursor_beyond_the_store_is_out_of_range(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        (alice,) = await devices(login, server, "alice", 1)
        for text in ("one", "two", "three"):
            await send(alice, "bob", text)
        error = await fails(1003, history(alice, "bob", nextMessageSeq=BEYOND))
        assert "nextMessageSeq" in error.message
        await fails(1003, history(alice, "bob", nextMessageSeq=BEYOND, reverse=True))
        newest_first = await history(alice, "bob", nextMessageSeq=LARGEST)
        assert [m["message"] for m in newest_first] == ["three", "two", "one"]
        assert await history(alice, "bob", nextMessageSeq=LARGEST, reverse=True) == []
        assert [m["message"] for m in await history(alice, "bob")] == ["three", "two", "one"]


async def test_conversation_cursor_and_group_cursor_beyond_the_store(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        (alice,) = await devices(login, server, "alice", 1)
        await send(alice, "bob", "hi")
        cursor = {"conversationID": "bob", "conversationType": 0, "isPinned": False}
        for order_key in (BEYOND, -BEYOND - 1):
            await fails(1003, alice.request("queryConversationList", config={"count": 10, "nextConversation": {**cursor, "orderKey": order_key}}))
        page = await alice.request("queryConversationList", config={"count": 10, "nextConversation": {**cursor, "orderKey": LARGEST}})
        assert isinstance(page["conversationList"], list)
        await alice.request("createGroup", groupInfo={"groupID": "team", "groupName": "team"}, userIDs=[])
        await fails(1003, alice.request("queryGroupMemberList", groupID="team", config={"count": 10, "nextFlag": BEYOND}))
        members = await alice.request("queryGroupMemberList", groupID="team", config={"count": 10, "nextFlag": 0})
        assert [m["userID"] for m in members["userList"]] == ["alice"]


async def test_stream_seqs_beyond_the_store_are_out_of_range(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        (alice,) = await devices(login, server, "alice", 1)
        await send(alice, "bob", "hi")
        await fails(1003, alice.request("ack", seq=BEYOND))
        await fails(1003, login(server, "alice", device="alice-2", platform="Windows", resume_from=BEYOND))
        listed = await alice.request("queryDevices")
        assert [d["deviceID"] for d in listed["devices"]] == ["alice-iOS"]
        assert [m["message"] for m in await history(alice, "bob")] == ["hi"]
