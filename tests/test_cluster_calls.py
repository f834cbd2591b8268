"""Calls (PROTOCOL.md §11) whose parties' devices are on different nodes of a cluster.

Three `hubbub serve` nodes on one PostgreSQL and one Redis; alice on n1,
bob with a device on n2 and one on n3, carol on n2. The call actor lives
on whichever node the call ID hashes to. An invitation rings every device
of each invitee whatever its node; bob's two devices accept at the same
moment from two nodes and exactly one wins (the other gets 5003 and hears
that bob accepted, as on one node); a hang-up (callEnd) reaches everyone in
the call. Then, in a call whose actor is not on n2, n2 is killed (kill -9):
carol's accepting device there quits the call for the others.
"""

from __future__ import annotations

from pathlib import Path

import trio

from actors.bus.placement import owner_of
from actors.runtime import Address
from hubbub_client import Client, ClientError

from .cluster_support import NODES, device_on, three_nodes, until_live
from .redis_servers import RedisForTests
from .test_durability import _kill

INVITING, ACCEPTED, CANCELLED, RECEIVED, QUIT, ENDED = 0, 1, 3, 5, 7, 8


async def _changed(client: Client, call_id: str) -> list[tuple[str, int]]:
    event = await client.next_event("callUserStateChanged", timeout=30)
    assert event["callID"] == call_id
    return [(user["userID"], user["state"]) for user in event["callUserList"]]


async def _call(inviter: Client, invitees: dict[str, list[Client]]) -> str:
    """Invite; every device of every invitee rings, and everyone hears Inviting then Received."""
    reply = await inviter.request("callInvite", invitees=list(invitees), config={"timeout": 120})
    call_id: str = reply["callID"]
    assert reply["errorUserList"] == []
    for devices in invitees.values():
        for device in devices:
            invitation = await device.next_event("callInvitationReceived", timeout=30)
            assert invitation["callID"] == call_id and invitation["inviter"] == "alice"
    everyone = [inviter] + [device for devices in invitees.values() for device in devices]
    for client in everyone:
        assert [state for _, state in await _changed(client, call_id)][1:] == [INVITING] * len(invitees)
        assert sorted(await _changed(client, call_id)) == sorted((user, RECEIVED) for user in invitees)
    return call_id


async def test_a_call_over_three_nodes_rings_every_device_one_accept_wins_and_a_killed_nodes_device_quits(
    nursery: trio.Nursery, tmp_path: Path, postgres_url: str, redis_server: RedisForTests
) -> None:
    with trio.fail_after(200):
        async with three_nodes(tmp_path, postgres_url, redis_server.url) as nodes:
            n1, n2, n3 = (n.url for n in nodes)
            alice = await device_on(nursery, n1, "alice", "iOS")
            bob_a = await device_on(nursery, n2, "bob", "iOS")
            bob_b = await device_on(nursery, n3, "bob", "Android")
            carol = await device_on(nursery, n2, "carol", "iOS")
            call_id = await _call(alice, {"bob": [bob_a, bob_b], "carol": [carol]})

            # both of bob's devices accept at once, from n2 and n3: exactly one wins
            outcomes: dict[Client, int] = {}
            ready = trio.Event()

            async def accept(device: Client) -> None:
                await ready.wait()
                try:
                    await device.request("callAccept", callID=call_id, config={"extendedData": device.url})
                    outcomes[device] = 0
                except ClientError as refused:
                    outcomes[device] = refused.code

            async with trio.open_nursery() as accepting:
                accepting.start_soon(accept, bob_a)
                accepting.start_soon(accept, bob_b)
                await trio.testing.wait_all_tasks_blocked()
                ready.set()
            assert sorted(outcomes.values()) == [0, 5003], outcomes
            winner = next(device for device, code in outcomes.items() if code == 0)
            loser = bob_b if winner is bob_a else bob_a
            for client in (alice, carol, bob_a, bob_b):  # the other device is told bob accepted
                event = await client.next_event("callUserStateChanged", timeout=30)
                assert event["callUserList"] == [{"userID": "bob", "state": ACCEPTED, "extendedData": winner.url}]

            await carol.request("callAccept", callID=call_id)
            for client in (alice, winner, carol):
                assert await _changed(client, call_id) == [("carol", ACCEPTED)]
            # the hang-up reaches everyone in the call, on every node
            await alice.request("callEnd", callID=call_id)
            for client in (alice, winner, carol):
                assert await _changed(client, call_id) == [("alice", ENDED), ("bob", ENDED), ("carol", ENDED)]
            for client in (alice, carol, winner, loser):
                try:
                    await client.request("callQuit", callID=call_id)
                    raise AssertionError("a call that ended took a callQuit")
                except ClientError as refused:
                    assert refused.code == 5001
            assert [e for e in loser.pending_events() if str(e.get("ev", "")).startswith("call")] == []

            # a call whose actor is not on n2, with carol's accepting device on n2
            while True:
                call_id = await _call(alice, {"bob": [bob_a, bob_b], "carol": [carol]})
                if owner_of(Address("call", call_id), NODES) != "n2":
                    break
                await alice.request("callCancel", callID=call_id, invitees=[])
                for client in (bob_a, bob_b, carol):
                    assert (await client.next_event("callInvitationCancelled", timeout=30))["callID"] == call_id
                assert sorted(await _changed(alice, call_id)) == [("bob", CANCELLED), ("carol", CANCELLED)]
            await bob_b.request("callAccept", callID=call_id)
            for client in (alice, bob_a, bob_b, carol):
                assert (await _changed(client, call_id)) == [("bob", ACCEPTED)]
            await carol.request("callAccept", callID=call_id)
            for client in (alice, bob_b, carol):
                assert await _changed(client, call_id) == [("carol", ACCEPTED)]

            await _kill(nodes[1].process)
            await until_live(redis_server.url, {"n1", "n3"})
            for client in (alice, bob_b):
                assert await _changed(client, call_id) == [("carol", QUIT)]
            await bob_b.request("callQuit", callID=call_id)
            assert await _changed(alice, call_id) == [("bob", QUIT)]
