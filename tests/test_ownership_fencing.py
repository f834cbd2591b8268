"""A server whose actor another node has claimed: its stale actor writes nothing and stops; devices move on.

The "other node" is a second store opened on the server's PostgreSQL
database that claims the actor the way a node taking it over does. (On
SQLite one process owns every actor and nothing is claimed; the store's
claims and checks themselves run on both engines in test_store_fencing.)
"""

from __future__ import annotations

import time

import pytest
import trio

from actors.runtime import Address
from actors.store.postgres import open_postgres_store
from gateway.server import Gateway
from hubbub_client import ClientError, Disconnected

from .cluster_servers import node_owning
from .conftest import Login, StartServer
from .messaging_support import fails, history, send


@pytest.fixture
async def server(start_server: StartServer, postgres_url: str) -> Gateway:
    """A server keeping its state in a PostgreSQL database of its own."""
    return await start_server(store_url=postgres_url)


async def _claim_elsewhere(postgres_url: str, actor: str) -> int:
    """Claim `actor` as another node would when it takes the actor over; the epoch it got."""
    async with open_postgres_store(postgres_url) as node2:
        return await node2.claim(actor, "node2", int(time.time() * 1000))


async def test_a_taken_over_account_stores_nothing_more_and_its_devices_resume_elsewhere(
    server: Gateway, login: Login, postgres_url: str
) -> None:
    owner = node_owning(server, Address("account", "alice"))  # the node alice's account lives on (a cluster's: one of three)
    with trio.fail_after(30):
        alice = await login(server, "alice", device="A1")
        bob = await login(server, "bob", device="B1")
        await send(alice, "bob", "one")
        await bob.next_event("peerMessageReceived")
        epoch_here = await owner.store.owner("account:alice")
        assert epoch_here is not None and epoch_here[0] == owner.config.node
        head_before = await owner.store.stream_bounds("alice")
        taken = await _claim_elsewhere(postgres_url, "account:alice")
        assert taken == epoch_here[1] + 1
        # the stale account actor's next write is refused: 9001, nothing stored, the actor stops
        # (the device is closed at once: the refusal, 9001, may not reach it first)
        with pytest.raises((ClientError, Disconnected)) as refused:
            await send(alice, "bob", "two")
        if isinstance(refused.value, ClientError):
            assert refused.value.code == 9001 and "account:alice was taken over" in refused.value.message
        assert await alice.closed() == 4004  # resumable: the device reconnects and finds the account
        assert owner.registry.taken_over["account"] == 1
        assert not owner.registry.is_live(owner.registry.ref_of("account", "alice").address)
        assert [m["message"] for m in await history(bob, "alice")] == ["one"]
        assert await owner.store.stream_bounds("alice") == head_before
        # reconnecting spawns the account afresh, which claims it again (here: the same node)
        await alice.reconnect()
        assert (await owner.store.owner("account:alice")) == (owner.config.node, taken + 1)
        await send(alice, "bob", "three")
        assert (await bob.next_event("peerMessageReceived"))["messageList"][0]["message"] == "three"
        assert [m["message"] for m in await history(bob, "alice")] == ["three", "one"]


async def test_a_taken_over_group_stores_nothing_more_and_comes_back_on_the_next_request(
    server: Gateway, login: Login, postgres_url: str
) -> None:
    owner = node_owning(server, Address("group", "g1"))
    with trio.fail_after(30):
        alice = await login(server, "alice", device="A1")
        bob = await login(server, "bob", device="B1")
        await alice.request("createGroup", groupInfo={"groupID": "g1", "groupName": "G"}, userIDs=["bob"])
        assert await _claim_elsewhere(postgres_url, "group:g1") == 2
        refused = await fails(9001, alice.request("updateGroupName", groupID="g1", groupName="renamed"))
        assert "group:g1 was taken over" in refused.message
        assert owner.registry.taken_over["group"] == 1
        assert (await owner.store.load_group("g1")).name == "G"  # type: ignore[union-attr]
        # the next request spawns the group afresh, claimed for this node again
        await alice.request("updateGroupName", groupID="g1", groupName="renamed")
        assert (await owner.store.load_group("g1")).name == "renamed"  # type: ignore[union-attr]
        assert (await owner.store.owner("group:g1")) == (owner.config.node, 3)
        assert alice.close_code is None and bob.close_code is None
