"""What one actor commits for another account survives a crash between the two commits."""

from __future__ import annotations

from pathlib import Path

import cbor2
import trio

from actors.account.messages import AccountEvents
from actors.runtime import Address
from actors.store.sqlite_messages import queue_events

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
        event = ["groupNameUpdated", {"groupID": "g1", "groupName": "after", "operatedInfo": {"userID": "alice"}}]
        (outbox_id,) = await server.store.write(lambda conn: queue_events(conn, [("bob", cbor2.dumps([event]), None)]))
        await alice.close()
        server.stop()
        while server.connections:
            await trio.sleep(0.01)

        restarted = await start_server("multi", data_dir=data_dir)
        bob = await login(restarted, "bob", resume_from=0)
        created = await bob.next_event("groupStateChanged")
        renamed = await bob.next_event("groupNameUpdated")
        assert renamed["groupName"] == "after" and renamed["seq"] > created["seq"]
        # a late tell of the same outbox row changes nothing
        await restarted.registry.post(Address("account", "bob"), AccountEvents((tuple(event),), None, outbox_id))
        # a marker through bob's inbox, queued behind that tell: once bob sees it, the tell was handled
        alice = await login(restarted, "alice")
        await alice.request("addFriend", userID="bob")
        await bob.next_event("friendApplicationListChanged")
        assert bob.pending_events("groupNameUpdated") == []
        assert await restarted.store.pending_deliveries("bob") == []
