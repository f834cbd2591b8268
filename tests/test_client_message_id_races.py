"""Concurrent repeats of one clientMessageID create one message (PROTOCOL.md §4).

The key is the user's across conversations, so two devices sending with one
key at once, to two groups or to a group and a peer, get the same message
back, and only one conversation holds it.
"""

from __future__ import annotations

from typing import Any

import trio

from actors.store.postgres import PostgresStore
from actors.store.sqlite import SqliteStore
from gateway.server import Gateway
from tests.conftest import Login, StartServer
from tests.messaging_support import devices


def _body(text: str) -> dict[str, Any]:
    return {"type": 1, "message": text}


async def _concurrently(*requests: tuple[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    """Send every (client, sendMessage fields) at once; their reply Messages in that order."""
    replies: list[dict[str, Any]] = [{} for _ in requests]

    async def one(index: int, client: Any, fields: dict[str, Any]) -> None:
        reply = await client.request("sendMessage", **fields)
        replies[index] = reply["message"]

    async with trio.open_nursery() as nursery:
        for index, (client, fields) in enumerate(requests):
            nursery.start_soon(one, index, client, fields)
    return replies


async def _stored_keys(server: Gateway) -> list[str]:
    """The clientMessageIDs of every stored message, sorted (SQLite or PostgreSQL: the SQL both speak)."""
    store = server.store
    assert isinstance(store, SqliteStore | PostgresStore)
    sql = "SELECT client_message_id FROM messages WHERE client_message_id IS NOT NULL"
    rows: list[Any] = await store.read(lambda c: c.execute(sql).fetchall())
    return sorted(row[0] for row in rows)


async def test_two_groups_at_once_from_two_devices_make_one_message(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        for group_id in ("red", "blue"):
            await a1.request("createGroup", groupInfo={"groupID": group_id, "groupName": group_id}, userIDs=["bob"])
        for attempt in range(5):
            key = f"k{attempt}"
            first, second = await _concurrently(
                (a1, {"toConversationID": "red", "conversationType": 2, "message": _body("to red"), "clientMessageID": key}),
                (a2, {"toConversationID": "blue", "conversationType": 2, "message": _body("to blue"), "clientMessageID": key}),
            )
            assert first["messageID"] == second["messageID"]
            assert first == second
        # the group actors store a message before they reply (the sender's own view may follow later)
        assert await _stored_keys(server) == [f"k{attempt}" for attempt in range(5)]


async def test_a_group_and_a_peer_at_once_make_one_message(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        await a1.request("createGroup", groupInfo={"groupID": "red", "groupName": "red"}, userIDs=["bob"])
        replies = await _concurrently(
            (a1, {"toConversationID": "red", "conversationType": 2, "message": _body("group"), "clientMessageID": "same"}),
            (a2, {"toConversationID": "bob", "conversationType": 0, "message": _body("peer"), "clientMessageID": "same"}),
            (a2, {"toConversationID": "red", "conversationType": 2, "message": _body("again"), "clientMessageID": "same"}),
        )
        assert len({reply["messageID"] for reply in replies}) == 1
        assert await _stored_keys(server) == ["same"]
