"""What one actor commits for another account survives a crash between the two commits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cbor2
import trio

from hubbub_client import Client
from gateway.server import Gateway
from actors.account.messages import AccountEvents, events_from
from actors.runtime import Address
from actors.store.sql_messages import queue_events

from .cluster_servers import node_owning
from .conftest import Login, StartServer


async def test_events_left_in_the_outbox_reach_the_account_after_a_restart_once(
    start_server: StartServer, login: Login, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    with trio.fail_after(30):
        server = await start_server("multi", data_dir=data_dir)
        alice = await login(server, "alice")
        await alice.request("createGroup", groupInfo={"groupID": "g1", "groupName": "before"}, userIDs=["bob"])
        # As if the group committed a rename and the process died before telling bob's account:
        event: list[Any] = ["groupNameUpdated", {"groupID": "g1", "groupName": "after", "operatedInfo": {"userID": "alice"}}]
        (outbox_id,) = await server.store.write(lambda conn: queue_events(conn, [("bob", cbor2.dumps([event]), None)]))
        await alice.close()
        server.stop()
        await server.stopped.wait()  # the data dir is free for the next server

        restarted = await start_server("multi", data_dir=data_dir)
        bob = await login(restarted, "bob", resume_from=0)
        created = await bob.next_event("groupStateChanged")
        renamed = await bob.next_event("groupNameUpdated")
        assert renamed["groupName"] == "after" and renamed["seq"] > created["seq"]
        # a late tell of the same outbox row changes nothing
        await node_owning(restarted, Address("account", "bob")).registry.post(Address("account", "bob"), AccountEvents(events_from(cbor2.dumps([event])), None, outbox_id))
        # a marker through bob's inbox, queued behind that tell: once bob sees it, the tell was handled
        alice = await login(restarted, "alice")
        await alice.request("addFriend", userID="bob")
        await bob.next_event("friendApplicationListChanged")
        assert bob.pending_events("groupNameUpdated") == []
        assert await restarted.store.pending_deliveries("bob") == []


async def _marker(sender: Client, receiver: Client, receiver_id: str) -> None:
    """A message from `sender`, queued in the receiver's account behind everything told it so far, has arrived."""
    sent = await sender.request("sendMessage", toConversationID=receiver_id, conversationType=0, message={"type": 1, "message": "marker"})
    while (await receiver.next_event("peerMessageReceived"))["messageList"][0]["messageID"] != sent["message"]["messageID"]:
        pass


async def _alice_to_bob(server: Gateway, login: Login, **config: bool) -> tuple[Client, Client, str]:
    """alice and bob online, and a message from alice that bob has received; its ID."""
    alice = await login(server, "alice")
    bob = await login(server, "bob")
    sent = await alice.request("sendMessage", toConversationID="bob", conversationType=0, message={"type": 1, "message": "hi"}, config=config)
    await bob.next_event("peerMessageReceived")
    message_id: str = sent["message"]["messageID"]
    return alice, bob, message_id


async def test_a_revoke_still_reaches_the_other_party_once_when_its_account_crashed_on_it(
    start_server: StartServer, login: Login
) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        alice, bob, message_id = await _alice_to_bob(server, login)
        await node_owning(server, Address("account", "bob")).registry.crash(Address("account", "bob"))  # the tell of the revoke is lost with the crash
        await alice.request("revokeMessage", conversationID="bob", conversationType=0, messageID=message_id)
        revoked = await bob.next_event("messageRevokeReceived")  # taken from the outbox by the restarted account
        assert [(m["messageID"], m["isRevoked"], m["conversationID"]) for m in revoked["messageList"]] == [(message_id, True, "alice")]
        await _marker(alice, bob, "bob")
        assert bob.pending_events("messageRevokeReceived") == []
        assert await server.store.pending_deliveries("bob") == []


async def test_read_receipts_still_reach_the_sender_once_when_its_account_crashed_on_them(
    start_server: StartServer, login: Login
) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        alice, bob, message_id = await _alice_to_bob(server, login, hasReceipt=True)
        await node_owning(server, Address("account", "alice")).registry.crash(Address("account", "alice"))  # the tell of the receipt is lost with the crash
        await bob.request("sendMessageReceiptsRead", conversationID="alice", conversationType=0, messageIDs=[message_id])
        changed = await alice.next_event("messageReceiptChanged")
        assert [(i["messageID"], i["status"], i["isSelfOperated"]) for i in changed["infos"]] == [(message_id, 2, False)]
        await _marker(bob, alice, "alice")
        assert alice.pending_events("messageReceiptChanged") == []
        assert await server.store.pending_deliveries("alice") == []
