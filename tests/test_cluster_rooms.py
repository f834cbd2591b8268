"""Rooms (PROTOCOL.md §10) whose members' devices are on different nodes of a cluster.

Three `hubbub serve` nodes on one PostgreSQL and one Redis. The room actor
lives on n1 (the room ID is picked so); alice has a device on n1 and one on
n2, bob and carol are on n3 and n2. One device per user per room holds
across nodes (alice's older device is told event 10, and is no longer in
the room), room messages and attribute changes reach members on every node,
and when n2 is killed (kill -9) its devices leave the room for the others.
A second room lives on n2: rooms live in memory, so it dies with n2; its
members on n1 and n3 are told it is gone (event 3, as after a room's crash
on a lone server), and it starts afresh, empty, on its new owner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from actors.bus.placement import owner_of
from actors.runtime import Address
from hubbub_client import Client, ClientError

from .cluster_support import NODES, device_on, three_nodes, until_live
from .redis_servers import RedisForTests
from .test_durability import _kill



def room_owned_by(node: str) -> str:
    """A room ID whose actor lives on `node` while all three nodes are live (and while it is, by rendezvous hashing)."""
    for n in range(1000):
        room_id = f"room-{n}"
        if owner_of(Address("room", room_id), NODES) == node:
            return room_id
    raise AssertionError("no room ID hashes to " + node)


async def _enter(client: Client, room_id: str) -> tuple[int, int]:
    """Enter (creating it if absent) and return the (state, event) the device is told."""
    reply = await client.request("enterRoom", roomInfo={"roomID": room_id, "roomName": "cluster"}, config={})
    assert reply["roomInfo"]["roomID"] == room_id
    return await _state(client, room_id)


async def _state(client: Client, room_id: str) -> tuple[int, int]:
    event = await client.next_event("roomStateChanged", timeout=30)
    assert event["roomID"] == room_id
    return event["state"], event["event"]


async def _users_in(client: Client, name: str, count: int, room_id: str) -> list[str]:
    """The first `count` users named in `name` events (joins and leaves close together share one event)."""
    users: list[str] = []
    while len(users) < count:
        event = await client.next_event(name, timeout=30)
        assert event["roomID"] == room_id
        users += [m["userID"] for m in event["memberList"]]
    return users


async def _say(client: Client, room_id: str, text: str) -> dict[str, Any]:
    reply = await client.request("sendMessage", toConversationID=room_id, conversationType=1, message={"type": 1, "message": text})
    message: dict[str, Any] = reply["message"]
    return message


async def _heard(client: Client, text: str) -> dict[str, Any]:
    event = await client.next_event("roomMessageReceived", timeout=30)
    message: dict[str, Any] = event["messageList"][0]
    assert message["message"] == text, event
    return message


async def _members(client: Client, room_id: str) -> list[str]:
    reply = await client.request("queryRoomMemberList", roomID=room_id, config={"count": 100, "nextFlag": ""})
    return sorted(user["userID"] for user in reply["memberList"])


async def test_a_room_over_three_nodes_keeps_one_seat_per_user_reaches_everyone_and_drops_a_killed_nodes_devices(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    room_id = room_owned_by("n1")
    with trio.fail_after(200):
        async with three_nodes(tmp_path, postgres_url, redis_server.url) as nodes:
            n1, n2, n3 = (n.url for n in nodes)
            bob = await device_on(nursery, n3, "bob", "iOS")
            alice_ios = await device_on(nursery, n1, "alice", "iOS")
            alice_mac = await device_on(nursery, n2, "alice", "Mac")
            carol = await device_on(nursery, n2, "carol", "iOS")

            assert await _enter(bob, room_id) == (2, 6)
            assert await _enter(alice_ios, room_id) == (2, 6)
            assert await _users_in(bob, "roomMemberJoined", 1, room_id) == ["alice"]

            # alice's second device, on another node, takes her seat: the older one is told (event 10)
            assert await _enter(alice_mac, room_id) == (2, 6)
            assert await _state(alice_ios, room_id) == (0, 10)
            with pytest.raises(ClientError) as refused:
                await _say(alice_ios, room_id, "from the old seat")
            assert refused.value.code == 3003
            assert await _members(bob, room_id) == ["alice", "bob"]

            assert await _enter(carol, room_id) == (2, 6)
            for member in (bob, alice_mac):
                assert await _users_in(member, "roomMemberJoined", 1, room_id) == ["carol"]

            # messages and attribute changes reach the members on every node, the sender excepted
            sent = await _say(alice_mac, room_id, "hello from n2")
            for member in (bob, carol):
                assert (await _heard(member, "hello from n2"))["messageID"] == sent["messageID"]
            await _say(bob, room_id, "hello from n3")
            for member in (alice_mac, carol):
                await _heard(member, "hello from n3")
            reply = await carol.request("setRoomAttributes", roomID=room_id, roomAttributes={"topic": "nodes"}, config={})
            assert reply["errorKeys"] == []
            for member in (bob, alice_mac):
                event = await member.next_event("roomAttributesUpdated", timeout=30)
                assert event["infos"][0]["roomAttributes"] == {"topic": "nodes"}
            # alice's evicted device heard none of it: it sits in no room
            assert alice_ios.pending_events("roomMessageReceived") == []
            assert alice_ios.pending_events("roomAttributesUpdated") == []

            # a second room, whose actor lives on n2, with bob (n3) and alice's n1 device in it
            doomed = room_owned_by("n2")
            assert await _enter(bob, doomed) == (2, 6)
            assert await _enter(alice_ios, doomed) == (2, 6)
            assert await _users_in(bob, "roomMemberJoined", 1, doomed) == ["alice"]

            # n2 is killed: alice's and carol's devices there leave the room for bob
            await _kill(nodes[1].process)
            await until_live(redis_server.url, {"n1", "n3"})
            assert sorted(await _users_in(bob, "roomMemberLeft", 2, room_id)) == ["alice", "carol"]
            # the room that lived on n2 is gone: its members elsewhere are told, and it starts afresh
            for member in (bob, alice_ios):
                assert await _state(member, doomed) == (0, 3)
            assert await _enter(bob, doomed) == (2, 6)
            assert await _members(bob, doomed) == ["bob"]
            assert await _members(bob, room_id) == ["bob"]
            assert (await bob.request("queryRoomOnlineMemberCount", roomID=room_id))["count"] == 1

            # the room lives on: alice comes back through n1 and bob hears her join
            assert await _enter(alice_ios, room_id) == (2, 6)
            assert await _users_in(bob, "roomMemberJoined", 1, room_id) == ["alice"]
            await _say(alice_ios, room_id, "back on n1")
            await _heard(bob, "back on n1")
