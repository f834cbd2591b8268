"""Rooms over real WebSockets (PROTOCOL.md §10), with two-device accounts.

Negative checks ("B hears nothing") use barriers rather than sleeps: a room
message flushes every earlier room event and arrives after them, and a
request's reply arrives after every event queued for that connection before
it, so once a barrier came back, anything the server sent earlier is in the
client's queue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from actors.ids import session_address
from actors.errors import HubbubError
from actors.outbound import DeviceEvent, Outbound
from actors.room import Delivery, RoomActor, RoomContext, RoomIndex
from actors.room import messages as room
from actors.runtime import ActorCrashed, ActorRef, Address, Registry
from hubbub_client import Client, ClientError
from gateway.rooms import rooms_of
from gateway.server import Gateway

from .cluster_servers import node_owning, nodes_of
from .conftest import ADMIN_TOKEN, Login, StartServer
from .messaging_support import stall_writes

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# ---- helpers ------------------------------------------------------------------


async def _create(client: Client, room_id: str, name: str = "", **config: Any) -> dict[str, Any]:
    return await client.request("createRoom", roomInfo={"roomID": room_id, "roomName": name}, config=config)


async def _refused(code: int, client: Client, op: str, **fields: Any) -> None:
    with pytest.raises(ClientError) as refused:
        await client.request(op, **fields)
    assert refused.value.code == code, (op, refused.value)


async def _say(client: Client, room_id: str, text: str) -> dict[str, Any]:
    reply = await client.request(
        "sendMessage", toConversationID=room_id, conversationType=1, message={"type": 1, "message": text}
    )
    message: dict[str, Any] = reply["message"]
    return message


async def _heard(client: Client, text: str) -> dict[str, Any]:
    """Wait for the room message `text`; fails on any other room message before it."""
    event = await client.next_event("roomMessageReceived")
    assert event["messageList"][0]["message"] == text, event
    return event


async def _barrier(*clients: Client) -> None:
    """Every event queued for these connections so far has arrived."""
    for client in clients:
        await client.request("queryDevices")


def _names(event: dict[str, Any]) -> list[str]:
    return [m["userID"] for m in event["memberList"]]


async def _members_changed(client: Client, name: str, count: int, room_id: str = "r1") -> list[str]:
    """The first `count` users named in `name` events (roomMemberJoined/Left), in order.

    Joins and leaves close together share one event; how many share one depends
    on timing, so tests compare the users named, not the events.
    """
    users: list[str] = []
    while len(users) < count:
        event = await client.next_event(name)
        assert event["roomID"] == room_id and "seq" not in event
        users += _names(event)
    return users


async def _state(client: Client, room_id: str) -> tuple[int, int]:
    event = await client.next_event("roomStateChanged")
    assert event["roomID"] == room_id
    return event["state"], event["event"]


def _no_member_events(*clients: Client) -> None:
    for client in clients:
        assert client.pending_events("roomMemberJoined") == []
        assert client.pending_events("roomMemberLeft") == []


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    # 0.1 s rather than conftest's 0.02: these tests log devices in on the mock
    # clock, and on a loaded machine a SQLite commit in its worker thread can
    # take longer than 20 ms, letting the clock jump to an ask timeout. Few
    # jumps happen here, so the larger threshold costs little time.
    return trio.testing.MockClock(autojump_threshold=0.1)


@pytest.fixture
async def admin(server: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    assert server.listening is not None and server.listening.admin_url is not None
    async with httpx.AsyncClient(base_url=server.listening.admin_url, timeout=10) as client:
        yield client


# ---- create, join, enter, leave -------------------------------------------------


async def test_create_join_enter_leave_and_who_hears_what(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, bob, carol = [await login(server, name) for name in ("alice", "bob", "carol")]
        reply = await _create(alice, "r1", "Room one")
        assert reply["roomInfo"] == {"roomID": "r1", "roomName": "Room one"}
        assert await _state(alice, "r1") == (2, 4)

        assert (await bob.request("joinRoom", roomID="r1"))["roomInfo"]["roomID"] == "r1"
        assert await _state(bob, "r1") == (2, 0)
        assert _names(await alice.next_event("roomMemberJoined")) == ["bob"]

        entered = await carol.request("enterRoom", roomInfo={"roomID": "r1", "roomName": "ignored"})
        assert entered["roomInfo"] == {"roomID": "r1", "roomName": "Room one"}
        assert await _state(carol, "r1") == (2, 6)
        for member in (alice, bob):
            assert _names(await member.next_event("roomMemberJoined")) == ["carol"]

        await bob.request("leaveRoom", roomID="r1")
        for member in (alice, carol):
            event = await member.next_event("roomMemberLeft")
            assert (event["roomID"], _names(event)) == ("r1", ["bob"])
            assert "seq" not in event  # ephemeral
        await _say(alice, "r1", "barrier")
        await _heard(carol, "barrier")
        await _barrier(bob)
        # nobody hears of their own joining or leaving, nor of anything after leaving
        _no_member_events(alice, bob, carol)
        assert bob.pending_events("roomMessageReceived") == []


async def test_enter_room_creates_when_absent(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice = await login(server, "alice")
        reply = await alice.request(
            "enterRoom",
            roomInfo={"roomID": "fresh", "roomName": "Fresh"},
            config={"roomAttributes": {"topic": "hello"}},
        )
        assert reply["roomInfo"] == {"roomID": "fresh", "roomName": "Fresh"}
        assert await _state(alice, "fresh") == (2, 6)
        attributes = await alice.request("queryRoomAllAttributes", roomID="fresh")
        assert attributes["roomAttributes"] == {"topic": "hello"}


async def test_every_room_error_code(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        await _create(alice, "r1")
        await _refused(3001, bob, "createRoom", roomInfo={"roomID": "r1"})
        await _refused(3001, alice, "createRoom", roomInfo={"roomID": "r1"})
        await _refused(3002, bob, "joinRoom", roomID="nowhere")
        await _refused(3003, bob, "leaveRoom", roomID="r1")
        await _refused(3003, bob, "leaveRoom", roomID="nowhere")
        send = {"toConversationID": "r1", "conversationType": 1, "message": {"type": 1, "message": "hi"}}
        await _refused(3003, bob, "sendMessage", **send)
        await _refused(3003, bob, "queryRoomMemberList", roomID="r1", config={"count": 10})
        await _refused(3003, bob, "queryRoomOnlineMemberCount", roomID="r1")
        await _refused(3003, bob, "setRoomAttributes", roomID="r1", roomAttributes={"k": "v"})
        await _refused(3003, bob, "deleteRoomAttributes", roomID="r1", keys=["k"])
        await _refused(3003, bob, "queryRoomAllAttributes", roomID="r1")
        # bad arguments
        await _refused(1003, bob, "createRoom", roomInfo={"roomID": "r2"}, config={"roomDestroyDelayTime": 10801})
        await _refused(1003, bob, "createRoom", roomInfo={"roomID": "bad id!"})
        await _refused(1003, alice, "queryRoomMemberList", roomID="r1", config={"count": 10, "nextFlag": "x"})
        await _refused(1003, alice, "queryRoomMemberList", roomID="r1", config={"count": 0})
        await _refused(1003, alice, "sendMessage", **send, toLoginID=alice.login_id)
        # none of it changed anything: the room works, and the 3-hour maximum is allowed
        assert (await alice.request("queryRoomOnlineMemberCount", roomID="r1"))["count"] == 1
        await _create(bob, "r2", roomDestroyDelayTime=10800)
        await bob.request("joinRoom", roomID="r1")
        await _say(bob, "r1", "still fine")
        await _heard(alice, "still fine")


# ---- messages, members, attributes ---------------------------------------------------


async def test_room_messages_reach_members_only(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice_a = await login(server, "alice", device="A", platform="iOS")
        alice_b = await login(server, "alice", device="B", platform="Android")
        bob, carol, dave = [await login(server, name) for name in ("bob", "carol", "dave")]
        await _create(alice_a, "r1")
        for member in (bob, carol):
            await member.request("joinRoom", roomID="r1")
        sent = await _say(alice_a, "r1", "hello room")
        assert (sent["direction"], sent["conversationType"], sent["conversationID"]) == (0, 1, "r1")
        assert sent["senderUserID"] == "alice" and sent["messageSeq"] == 1
        for member in (bob, carol):
            event = await _heard(member, "hello room")
            assert event["fromConversationID"] == "r1"
            received = event["messageList"][0]
            assert received["direction"] == 1
            assert {k: v for k, v in received.items() if k != "direction"} == {k: v for k, v in sent.items() if k != "direction"}
            assert "seq" not in event
        await _say(bob, "r1", "second")
        assert (await _heard(alice_a, "second"))["messageList"][0]["messageSeq"] == 2
        await _heard(carol, "second")
        await _barrier(alice_a, alice_b, dave)
        # the sender's own device gets the reply, not the event; others not in the room get nothing
        assert alice_a.pending_events("roomMessageReceived") == []
        assert alice_b.pending_events("roomMessageReceived") == []
        assert dave.pending_events("roomMessageReceived") == []


async def test_member_list_pages_in_join_order(server: Gateway, login: Login) -> None:
    with trio.fail_after(30):
        names = [f"user{i}" for i in range(7)]
        clients = [await login(server, name) for name in names]
        await _create(clients[0], "big")
        for client in clients[1:]:
            await client.request("joinRoom", roomID="big")
        seen: list[str] = []
        flag = ""
        pages = 0
        while True:
            page = await clients[3].request("queryRoomMemberList", roomID="big", config={"count": 3, "nextFlag": flag})
            assert page["roomID"] == "big"
            seen += _names(page)
            pages += 1
            flag = page["nextFlag"]
            if not flag:
                break
        assert (seen, pages) == (names, 3)
        assert (await clients[5].request("queryRoomOnlineMemberCount", roomID="big"))["count"] == 7
        await clients[2].request("leaveRoom", roomID="big")
        page = await clients[0].request("queryRoomMemberList", roomID="big", config={"count": 100})
        assert _names(page) == [n for n in names if n != "user2"] and page["nextFlag"] == ""


async def test_room_attributes_set_delete_query_and_owner_rules(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        await _create(alice, "r1", roomAttributes={"topic": "cats"})
        await bob.request("joinRoom", roomID="r1")

        reply = await alice.request("setRoomAttributes", roomID="r1", roomAttributes={"topic": "dogs", "mood": "ok"})
        assert reply["errorKeys"] == []
        for member in (alice, bob):
            event = await member.next_event("roomAttributesUpdated")
            assert event == {"ev": "roomAttributesUpdated", "roomID": "r1", "infos": [{"action": 0, "roomAttributes": {"topic": "dogs", "mood": "ok"}}]}

        # bob cannot overwrite alice's key without isForce; with it he can
        reply = await bob.request("setRoomAttributes", roomID="r1", roomAttributes={"topic": "birds", "own": "b"})
        assert reply["errorKeys"] == ["topic"]
        assert (await alice.next_event("roomAttributesUpdated"))["infos"][0]["roomAttributes"] == {"own": "b"}
        reply = await bob.request("setRoomAttributes", roomID="r1", roomAttributes={"topic": "birds"}, config={"isForce": True})
        assert reply["errorKeys"] == []
        assert (await alice.next_event("roomAttributesUpdated"))["infos"][0]["roomAttributes"] == {"topic": "birds"}

        reply = await bob.request("deleteRoomAttributes", roomID="r1", keys=["mood", "own", "missing"])
        assert sorted(reply["errorKeys"]) == ["missing", "mood"]
        assert (await alice.next_event("roomAttributesUpdated"))["infos"] == [{"action": 1, "roomAttributes": {"own": ""}}]
        all_now = await bob.request("queryRoomAllAttributes", roomID="r1")
        assert all_now["roomAttributes"] == {"topic": "birds", "mood": "ok"}

        # keys set with isDeleteAfterOwnerLeft go when their owner leaves, after the leave
        await bob.request("setRoomAttributes", roomID="r1", roomAttributes={"seat": "3"}, config={"isDeleteAfterOwnerLeft": True})
        await alice.next_event("roomAttributesUpdated")
        await bob.request("leaveRoom", roomID="r1")
        assert _names(await alice.next_event("roomMemberLeft")) == ["bob"]
        assert (await alice.next_event("roomAttributesUpdated"))["infos"] == [{"action": 1, "roomAttributes": {"seat": ""}}]
        assert (await alice.request("queryRoomAllAttributes", roomID="r1"))["roomAttributes"] == {"topic": "birds", "mood": "ok"}


# ---- one device per user per room ----------------------------------------------------


async def test_second_device_takes_the_seat_silently(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice_a = await login(server, "alice", device="A", platform="iOS")
        alice_b = await login(server, "alice", device="B", platform="Android")
        bob, carol = await login(server, "bob"), await login(server, "carol")
        await _create(bob, "r1")
        await carol.request("joinRoom", roomID="r1")
        await alice_a.request("joinRoom", roomID="r1")
        assert await _members_changed(bob, "roomMemberJoined", 2) == ["carol", "alice"]
        assert await _members_changed(carol, "roomMemberJoined", 1) == ["alice"]

        assert await _state(alice_a, "r1") == (2, 0)
        await alice_b.request("joinRoom", roomID="r1")
        assert await _state(alice_a, "r1") == (0, 10)
        assert await _state(alice_b, "r1") == (2, 0)

        await _say(bob, "r1", "after the move")
        await _heard(alice_b, "after the move")
        await _heard(carol, "after the move")
        await _barrier(alice_a, bob, carol)
        assert alice_a.pending_events("roomMessageReceived") == []
        _no_member_events(bob, carol, alice_b)
        assert (await bob.request("queryRoomOnlineMemberCount", roomID="r1"))["count"] == 3

        # A is out: it can neither speak nor leave; B can, and then others see alice leave
        await _refused(3003, alice_a, "sendMessage", toConversationID="r1", conversationType=1, message={"type": 1, "message": "x"})
        await _refused(3003, alice_a, "leaveRoom", roomID="r1")
        await _say(alice_b, "r1", "from B")
        assert (await _heard(bob, "from B"))["messageList"][0]["senderUserID"] == "alice"
        await _heard(carol, "from B")
        # the old device dropping now changes nothing for the room
        await alice_a.close()
        await _say(bob, "r1", "A is gone")
        await _heard(alice_b, "A is gone")
        await _heard(carol, "A is gone")
        _no_member_events(bob, carol)
        await alice_b.request("leaveRoom", roomID="r1")
        for member in (bob, carol):
            assert _names(await member.next_event("roomMemberLeft")) == ["alice"]


async def test_moving_back_and_forth_between_devices(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice_a = await login(server, "alice", device="A", platform="iOS")
        alice_b = await login(server, "alice", device="B", platform="Android")
        bob = await login(server, "bob")
        await _create(bob, "r1")
        await alice_a.request("joinRoom", roomID="r1")
        await alice_b.request("enterRoom", roomInfo={"roomID": "r1"})
        assert await _state(alice_a, "r1") == (2, 0)
        assert await _state(alice_a, "r1") == (0, 10)
        await alice_a.request("joinRoom", roomID="r1")
        assert await _state(alice_b, "r1") == (2, 6)
        assert await _state(alice_b, "r1") == (0, 10)
        await _say(bob, "r1", "where")
        await _heard(alice_a, "where")
        await _barrier(alice_b)
        assert alice_b.pending_events("roomMessageReceived") == []
        assert _names(await bob.next_event("roomMemberJoined")) == ["alice"]
        _no_member_events(bob)


# ---- disconnects, destruction ----------------------------------------------------------


async def test_dropped_device_leaves_all_its_rooms(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice = await login(server, "alice")
        bob_a = await login(server, "bob", device="A", platform="iOS")
        bob_b = await login(server, "bob", device="B", platform="Android")
        for room_id in ("r1", "r2"):
            await _create(alice, room_id)
            await bob_a.request("joinRoom", roomID=room_id)
            assert _names(await alice.next_event("roomMemberJoined")) == ["bob"]
        def rooms_with(login_id: str | None) -> list[str]:  # on a cluster, each node indexes the rooms it holds
            return sorted(r for node in nodes_of(server) for r in rooms_of(node).index.rooms_of(login_id or ""))

        assert rooms_with(bob_a.login_id) == ["r1", "r2"]
        await bob_a.close()
        left = {(await alice.next_event("roomMemberLeft"))["roomID"] for _ in range(2)}
        assert left == {"r1", "r2"}
        assert rooms_with(bob_a.login_id) == []
        # bob's other device is untouched and may join again
        await bob_b.request("joinRoom", roomID="r1")
        assert _names(await alice.next_event("roomMemberJoined")) == ["bob"]


async def test_last_leave_destroys_the_room_at_once(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        await _create(alice, "r1", "first", roomAttributes={"k": "v"})
        await alice.request("leaveRoom", roomID="r1")
        await _refused(3002, bob, "joinRoom", roomID="r1")
        # the ID is free again, with nothing left over
        assert (await _create(bob, "r1", "second"))["roomInfo"]["roomName"] == "second"
        assert (await bob.request("queryRoomAllAttributes", roomID="r1"))["roomAttributes"] == {}
        assert (await _say(bob, "r1", "new room"))["messageSeq"] == 1


@pytest.mark.one_process(
    "ten minutes of mock-clock time: on three nodes every virtual second costs each node's bus real Redis round trips"
    " (renewals, the inbox read), so the test takes well over a minute of real time; the plain run covers it"
)
async def test_destroy_delay_and_a_join_cancels_it(start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock) -> None:
    # idle actors are retired after 120 s; long keepalive so that pings do not wake the clock
    server = await start_server("multi", actor_idle_s=120.0, ping_interval_s=3600.0)
    with trio.fail_after(3000):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        await _create(alice, "r1", roomDestroyDelayTime=100)
        await alice.request("leaveRoom", roomID="r1")
        await trio.sleep(90)
        await bob.request("joinRoom", roomID="r1")  # cancels the pending destruction
        await trio.sleep(150)
        assert (await bob.request("queryRoomOnlineMemberCount", roomID="r1"))["count"] == 1
        await bob.request("leaveRoom", roomID="r1")
        await trio.sleep(99)
        await alice.request("joinRoom", roomID="r1")  # the delay restarted at bob's leave
        await alice.request("leaveRoom", roomID="r1")
        await trio.sleep(101)
        await _refused(3002, bob, "joinRoom", roomID="r1")
        # the destroyed room's actor is retired once idle
        await trio.sleep(150)
        assert not node_owning(server, Address("room", "r1")).registry.is_live(Address("room", "r1"))


async def test_restart_after_a_crash_tells_members_the_room_is_gone(server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        await _create(alice, "r1")
        await bob.request("joinRoom", roomID="r1")
        assert await _state(bob, "r1") == (2, 0)
        assert _names(await alice.next_event("roomMemberJoined")) == ["bob"]  # the batch is out: no timer tells the room anything now
        await node_owning(server, Address("room", "r1")).registry.crash(Address("room", "r1"))
        frame = await alice.request_frame(
            "sendMessage", toConversationID="r1", conversationType=1, message={"type": 1, "message": "boom"}
        )
        assert frame["error"]["code"] == 9000
        assert await _state(alice, "r1") == (2, 4)
        for member in (alice, bob):
            assert await _state(member, "r1") == (0, 3)
        await _refused(3002, bob, "joinRoom", roomID="r1")
        await _create(bob, "r1")


# ---- slow members ------------------------------------------------------------------------


async def test_slow_member_is_dropped_with_an_event_and_stays_connected(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi", outbound_queue=8)  # room traffic stops at 6 queued frames
    with trio.fail_after(20):
        alice, bob, carol = [await login(server, name) for name in ("alice", "bob", "carol")]
        await _create(alice, "r1")
        for member in (bob, carol):
            await member.request("joinRoom", roomID="r1")
            assert await _state(member, "r1") == (2, 0)
        await _say(alice, "r1", "warm-up")
        await _heard(bob, "warm-up")
        await _heard(carol, "warm-up")
        await _barrier(alice, bob, carol)

        # bob's connection stops draining: its writer hangs on the next frame
        release = stall_writes(server, bob)
        for n in range(12):
            await _say(alice, "r1", f"m{n}")
        assert _names(await carol.next_event("roomMemberLeft")) == ["bob"]
        assert _names(await alice.next_event("roomMemberLeft")) == ["bob"]
        for n in range(12):
            await _heard(carol, f"m{n}")
        assert rooms_of(node_owning(server, Address("room", "r1"))).context.stats["room_slow_drops"] == 1

        release.set()
        kicked = await bob.next_event("roomStateChanged")
        assert kicked == {"ev": "roomStateChanged", "roomID": "r1", "state": 0, "event": 8, "extendedData": {"reason": "slow"}}
        got = [e["messageList"][0]["message"] for e in bob.pending_events("roomMessageReceived")]
        assert got == [f"m{n}" for n in range(len(got))] and 0 < len(got) < 12
        # still connected, out of the room, and free to come back
        assert bob.close_code is None
        await _refused(3003, bob, "sendMessage", toConversationID="r1", conversationType=1, message={"type": 1, "message": "x"})
        await bob.request("joinRoom", roomID="r1")
        assert _names(await carol.next_event("roomMemberJoined")) == ["bob"]


# ---- admin API ------------------------------------------------------------------------------


async def test_admin_lists_rooms_and_members(server: Gateway, login: Login, admin: httpx.AsyncClient) -> None:
    with trio.fail_after(20):
        alice, bob = await login(server, "alice"), await login(server, "bob")
        await _create(alice, "r1", "One", roomAttributes={"k": "v"})
        await bob.request("joinRoom", roomID="r1")
        await _create(bob, "r0", roomDestroyDelayTime=100)
        await bob.request("leaveRoom", roomID="r0")
        listed = (await admin.get("/v1/rooms", headers=AUTH)).json()
        rooms = [{k: r[k] for k in ("roomID", "memberCount")} for r in listed["rooms"]]  # a cluster's also names each room's node
        assert rooms == [{"roomID": "r0", "memberCount": 0}, {"roomID": "r1", "memberCount": 2}]
        one = (await admin.get("/v1/rooms/r1", headers=AUTH)).json()
        assert (one["roomID"], one["roomName"], one["memberCount"]) == ("r1", "One", 2)
        assert one["members"] == [{"userID": "alice", "loginID": alice.login_id}, {"userID": "bob", "loginID": bob.login_id}]
        assert one["roomAttributes"] == {"k": "v"} and one["destroyInSeconds"] is None
        empty = (await admin.get("/v1/rooms/r0", headers=AUTH)).json()
        assert empty["memberCount"] == 0 and 0 < empty["destroyInSeconds"] <= 100
        assert (await admin.get("/v1/rooms/nope", headers=AUTH)).status_code == 404
        for path in ("/v1/rooms", "/v1/rooms/r1"):
            assert (await admin.get(path)).status_code == 401


# ---- the room actor alone, with a fake sink: large rooms, batching, drops, timers -------------


class FakeSink:
    """A RoomSink that records what each session got; sessions can be made slow or gone."""

    def __init__(self) -> None:
        self.got: dict[Address, list[DeviceEvent]] = defaultdict(list)
        self.slow: set[Address] = set()
        self.gone: set[Address] = set()
        self.offers = 0

    def offer(self, session: Address, event: DeviceEvent, room_id: str) -> Delivery:
        self.offers += 1
        if session in self.gone:
            return Delivery.GONE
        if session in self.slow:
            return Delivery.SLOW
        self.got[session].append(event)
        return Delivery.SENT

    def push(self, session: Address, item: Outbound) -> bool:
        if session in self.gone or not isinstance(item, DeviceEvent):
            return False
        self.got[session].append(item)
        return True

    def names(self, login_id: str, event: str | None = None) -> list[str]:
        return [e.name for e in self.got[session_address(login_id)] if event is None or e.name == event]

    def member_lists(self, login_id: str) -> list[tuple[str, list[str]]]:
        return [
            (e.name, [m["userID"] for m in e.payload["memberList"]])
            for e in self.got[session_address(login_id)]
            if e.name in ("roomMemberJoined", "roomMemberLeft")
        ]


def _room_runtime(nursery: trio.Nursery, **registry_options: Any) -> tuple[ActorRef[Any], FakeSink, RoomContext]:
    sink = FakeSink()
    registry = Registry(nursery, {}, **registry_options)
    context = RoomContext(sink, RoomIndex(), registry)
    registry.add_kind("room", partial(RoomActor, ctx=context))
    return registry.ref(Address("room", "big")), sink, context


def _m(n: int | str) -> room.Member:
    return room.Member(f"u{n}", f"L{n}")


async def _fill(ref: ActorRef[Any], members: int) -> None:
    await ref.ask(room.Create(_m(0), "big"), timeout=10)
    for n in range(1, members):
        await ref.ask(room.Join(_m(n)), timeout=10)


async def test_ten_thousand_members_one_encoding_per_message(nursery: trio.Nursery) -> None:
    ref, sink, context = _room_runtime(nursery)
    with trio.fail_after(60):
        size = 10_000
        await _fill(ref, size)
        # batched announcements: far fewer offers than the n²/2 of one event per join
        assert sink.offers < size * size // 20
        sink.got.clear()
        reply = await ref.ask(room.Say(_m(0), 1, "to everyone"), timeout=10)
        events = [e for got in sink.got.values() for e in got if e.name == "roomMessageReceived"]
        assert len(events) == size - 1 and len({id(e) for e in events}) == 1  # encoded once
        assert reply.direction == 0 and "roomMessageReceived" not in sink.names("L0")
        assert await ref.ask(room.QueryOnlineCount(_m(5)), timeout=10) == size
        assert context.stats["room_deliveries"] >= size - 1


async def test_slow_and_gone_members_are_dropped_after_the_event(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ref, sink, context = _room_runtime(nursery)
    with trio.fail_after(30):
        await _fill(ref, 1000)
        slow = [_m(n) for n in range(10, 20)]
        gone = [_m(n) for n in range(500, 505)]
        sink.slow.update(session_address(m.login_id) for m in slow)
        sink.gone.update(session_address(m.login_id) for m in gone)
        sink.got.clear()
        await ref.ask(room.Say(_m(1), 1, "fast enough?"), timeout=10)
        await trio.sleep(1)  # the leaves are announced when the batching window runs out
        # everyone else got the message, then one roomMemberLeft naming all 15
        for n in (0, 2, 999):
            assert sink.names(f"L{n}") == ["roomMessageReceived", "roomMemberLeft"]
            left = sink.member_lists(f"L{n}")[0][1]
            assert sorted(left) == sorted(m.user_id for m in slow + gone)
        for member in slow:  # a clear event, not silence
            (kicked,) = sink.got[session_address(member.login_id)]
            assert kicked.payload == {"roomID": "big", "state": 0, "event": 8, "extendedData": {"reason": "slow"}}
        assert all(session_address(m.login_id) not in sink.got for m in gone)
        assert await ref.ask(room.QueryOnlineCount(_m(0)), timeout=10) == 985
        assert context.index.rooms_of("L10") == () and context.index.has("big", "L11") is False
        assert context.stats["room_slow_drops"] == 10
        # dropped members are out: their requests are refused and they get nothing more
        with pytest.raises(HubbubError) as refused:
            await ref.ask(room.Say(_m(10), 1, "me?"), timeout=10)
        assert refused.value.code == 3003
        sink.got.clear()
        await ref.ask(room.Say(_m(0), 1, "again"), timeout=10)
        assert sum(len(got) for got in sink.got.values()) == 984


async def test_member_changes_are_batched_in_order_and_only_to_those_who_saw_them(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ref, sink, _ = _room_runtime(nursery)
    with trio.fail_after(30):
        await ref.ask(room.Create(_m("o"), "big"), timeout=10)
        for n in ("x", "y", "z"):
            await ref.ask(room.Join(_m(n)), timeout=10)
        await ref.ask(room.Say(_m("o"), 1, "flushes first"), timeout=10)
        assert sink.names("Lo") == ["roomStateChanged", "roomMemberJoined"]  # the sender has the reply
        assert sink.names("Lx") == ["roomStateChanged", "roomMemberJoined", "roomMessageReceived"]
        assert sink.member_lists("Lo") == [("roomMemberJoined", ["ux", "uy", "uz"])]
        assert sink.member_lists("Lx") == [("roomMemberJoined", ["uy", "uz"])]
        assert sink.member_lists("Ly") == [("roomMemberJoined", ["uz"])]
        assert sink.member_lists("Lz") == []

        sink.got.clear()
        await ref.ask(room.Leave(_m("x")), timeout=10)
        await ref.ask(room.Join(_m("w")), timeout=10)
        await ref.ask(room.Leave(_m("y")), timeout=10)
        await trio.sleep(1)  # the batching window runs out: no message needed
        expected = [("roomMemberLeft", ["ux"]), ("roomMemberJoined", ["uw"]), ("roomMemberLeft", ["uy"])]
        assert sink.member_lists("Lo") == expected
        assert sink.member_lists("Lz") == expected
        assert sink.member_lists("Lw") == [("roomMemberLeft", ["uy"])]
        assert sink.member_lists("Lx") == [] and sink.member_lists("Ly") == []


async def test_timers_never_outlive_the_room(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(3600):
        async with trio.open_nursery() as actors:
            ref, sink, context = _room_runtime(actors, idle_after_s=10, allow_crash_hook=True)
            registry = ref._transport
            assert isinstance(registry, Registry)
            await ref.ask(room.Create(_m(1), "big", destroy_delay_s=100), timeout=10)
            await ref.ask(room.Join(_m(2)), timeout=10)
            await ref.ask(room.Leave(_m(2)), timeout=10)
            await ref.ask(room.Leave(_m(1)), timeout=10)  # destruction timer armed
            await registry.crash(ref.address)
            with pytest.raises(ActorCrashed):
                await ref.ask(room.Inspect(), timeout=10)
            # the crashed actor's timer died with it; the fresh one knows no room
            assert await ref.ask(room.Inspect(), timeout=10) is None
            await ref.ask(room.Create(_m(1), "big", destroy_delay_s=100), timeout=10)
            await ref.ask(room.Leave(_m(1)), timeout=10)
            await trio.sleep(99)
            assert await ref.ask(room.Inspect(), timeout=10) is not None
            await trio.sleep(2)
            assert await ref.ask(room.Inspect(), timeout=10) is None
            assert "big" not in context.index
            await trio.sleep(20)
            assert not registry.is_live(ref.address)
            # no actor and no timer left behind: only the registry's own courier and idle sweeper
            assert sorted(task.name for task in actors.child_tasks) == ["actor courier", "idle actor sweeper"]
            actors.cancel_scope.cancel()


async def test_a_join_from_a_session_that_already_ended_leaves_no_ghost(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ref, sink, context = _room_runtime(nursery)
    with trio.fail_after(30):
        await _fill(ref, 3)
        sink.gone.add(session_address("L9"))  # its end hook ran before the join was handled
        await ref.ask(room.Join(_m(9)), timeout=10)
        await trio.sleep(1)
        assert await ref.ask(room.QueryOnlineCount(_m(0)), timeout=10) == 3
        assert not context.index.has("big", "L9")
        (joined, names), left = sink.member_lists("L0")[-2:]
        assert (joined, names[-1], left) == ("roomMemberJoined", "u9", ("roomMemberLeft", ["u9"]))


async def test_a_repeated_client_message_id_is_answered_with_the_original_and_not_sent_again(
    start_server: StartServer, login: Login
) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        alice = await login(server, "alice")
        bob = await login(server, "bob")
        await alice.request("createRoom", roomInfo={"roomID": "r1", "roomName": "r1"})
        await bob.request("joinRoom", roomID="r1")

        async def say(text: str, client_message_id: str) -> dict[str, Any]:
            reply = await alice.request(
                "sendMessage", toConversationID="r1", conversationType=1,
                message={"type": 1, "message": text}, clientMessageID=client_message_id,
            )
            message: dict[str, Any] = reply["message"]
            return message

        first = await say("once", "k1")
        again = await say("once, retried", "k1")
        assert again == first and first["clientMessageID"] == "k1"
        other = await say("another", "k2")
        assert other["messageSeq"] == first["messageSeq"] + 1
        await _heard(bob, "once")
        await _heard(bob, "another")  # the retry was never delivered
        # the key is the sender's: the same key from bob is a message of its own
        reply = await bob.request(
            "sendMessage", toConversationID="r1", conversationType=1, message={"type": 1, "message": "bob's"}, clientMessageID="k1"
        )
        assert reply["message"]["messageID"] != first["messageID"]
        await _heard(alice, "bob's")
