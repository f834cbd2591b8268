"""Rooms one user creates are capped: live ones, and empty ones lingering until their destroy delay."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from .cluster_servers import nodes_of
from .conftest import Login, StartServer
from .messaging_support import PATIENT_S, fails, jumping

DELAY_S = 60


async def _create(client: Any, room_id: str) -> Any:
    return await client.request("createRoom", roomInfo={"roomID": room_id, "roomName": room_id}, config={"roomDestroyDelayTime": DELAY_S})


async def test_room_caps_refuse_new_rooms_and_free_up(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    autojump_clock.autojump_threshold = PATIENT_S
    server = await start_server("multi", max_rooms_per_user=3, max_lingering_rooms_per_user=2)
    with trio.fail_after(600):
        alice = await login(server, "alice")
        bob = await login(server, "bob")
        for room_id in ("r1", "r2"):
            await _create(alice, room_id)
            await alice.request("leaveRoom", roomID=room_id)  # empty, kept for DELAY_S
        error = await fails(1003, _create(alice, "r3"))
        assert "empty rooms" in error.message
        await _create(bob, "b1")  # bob's rooms are his own
        await alice.request("joinRoom", roomID="r1")  # lived in again: no longer lingering
        await _create(alice, "r3")
        error = await fails(1003, _create(alice, "r4"))
        assert "3 live rooms" in error.message
        await fails(1003, alice.request("enterRoom", roomInfo={"roomID": "r4", "roomName": "r4"}, config={}))
        await alice.request("enterRoom", roomInfo={"roomID": "r3", "roomName": "r3"}, config={})  # an existing room: no cap
        assert sum(node.account_context.stats["rooms_refused"] for node in nodes_of(server)) == 3  # counted where each room would live
        with jumping(autojump_clock):
            await trio.sleep(DELAY_S + 1)  # r2 is destroyed
        await _create(alice, "r4")
