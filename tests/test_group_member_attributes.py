"""Group member attributes over real WebSockets with multi-device accounts (PROTOCOL.md §16).

A member sets its own attributes, an Admin or the Owner any member's; every
change is a durable groupMemberAttributesUpdated (the member's whole map,
and who made it) on every member's devices, the acting device excepted,
and an offline device gets them on resume, in order.
"""

from __future__ import annotations

from typing import Any

import trio

from hubbub_client import Client

from .conftest import Login, StartServer
from .messaging_support import assert_consecutive, devices, fails, until


async def _set(client: Client, group_id: str, user_id: str, **attributes: str) -> dict[str, Any]:
    return await client.request("setGroupMemberAttributes", groupID=group_id, userID=user_id, attributes=attributes)


async def _query(client: Client, group_id: str, *user_ids: str) -> dict[str, dict[str, str]]:
    reply = await client.request("queryGroupMemberAttributes", groupID=group_id, userIDs=list(user_ids))
    return {info["userID"]: info["attributes"] for info in reply["infos"]}


async def _updated(client: Client) -> dict[str, Any]:
    events = await until(client, lambda e: e.get("ev") == "groupMemberAttributesUpdated")
    return events[-1]


async def _group(owner: Client, group_id: str, members: list[str], watchers: list[Client]) -> None:
    await owner.request("createGroup", groupInfo={"groupID": group_id, "groupName": group_id}, userIDs=members)
    for device in watchers:
        await until(device, lambda e: e.get("ev") == "groupStateChanged")


async def test_members_set_their_own_admins_anyone_and_every_member_device_hears_it(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)  # Owner
        b1, b2 = await devices(login, server, "bob", 2)  # Member
        (carol,) = await devices(login, server, "carol", 1)  # Member
        (dave,) = await devices(login, server, "dave", 1)  # not a member
        await _group(a1, "g-attr", ["bob", "carol"], [a2, b1, b2, carol])

        own = await _set(b1, "g-attr", "bob", nickname="Bobby", seat="3")
        assert (own["groupID"], own["userID"], own["attributes"]) == ("g-attr", "bob", {"nickname": "Bobby", "seat": "3"})
        for device, from_user in ((b2, "bob"), (a1, None), (a2, None), (carol, None)):
            event = await _updated(device)
            assert (event["groupID"], event["userID"], event["attributes"], event["operatedBy"]) == (
                "g-attr", "bob", {"nickname": "Bobby", "seat": "3"}, "bob",
            )
            assert event.get("fromUserID") == from_user and "seq" in event

        await fails(4003, _set(carol, "g-attr", "bob", nickname="not yours"))
        await fails(4002, _set(dave, "g-attr", "dave", nickname="outsider"))
        await fails(4002, _set(a1, "g-attr", "dave", nickname="outsider"))
        await fails(4002, _query(dave, "g-attr", "bob"))
        await fails(4001, _set(a1, "g-nowhere", "alice", k="v"))

        by_owner = await _set(a2, "g-attr", "bob", seat="7")
        assert by_owner["attributes"] == {"nickname": "Bobby", "seat": "7"}
        for device in (a1, b1, b2, carol):
            event = await _updated(device)
            assert (event["userID"], event["attributes"], event["operatedBy"]) == ("bob", by_owner["attributes"], "alice")
        deleted = await b2.request("deleteGroupMemberAttributes", groupID="g-attr", userID="bob", keys=["seat", "absent"])
        assert deleted["attributes"] == {"nickname": "Bobby"}
        for device in (b1, a1, a2, carol):
            assert (await _updated(device))["attributes"] == {"nickname": "Bobby"}
        await fails(4003, carol.request("deleteGroupMemberAttributes", groupID="g-attr", userID="bob", keys=["nickname"]))

        assert await _query(carol, "g-attr", "bob", "carol", "dave") == {"bob": {"nickname": "Bobby"}, "carol": {}}
        # attributes go with the membership
        await a1.request("kickGroupMembers", groupID="g-attr", userIDs=["bob"])
        await a1.request("inviteUsersIntoGroup", groupID="g-attr", userIDs=["bob"])
        assert await _query(a1, "g-attr", "bob") == {"bob": {}}


async def test_attribute_limits_give_1003_and_change_nothing(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        (alice,) = await devices(login, server, "alice", 1)
        await alice.request("createGroup", groupInfo={"groupID": "g-lim", "groupName": "g"}, userIDs=[])
        sixteen = {f"k{i}": "v" * 256 for i in range(16)}
        assert (await _set(alice, "g-lim", "alice", **sixteen))["attributes"] == sixteen
        await fails(1003, _set(alice, "g-lim", "alice", one_more="v"))  # a 17th key
        await fails(1003, _set(alice, "g-lim", "alice", **{f"x{i}": "v" for i in range(17)}))
        await fails(1003, _set(alice, "g-lim", "alice", **{"k" * 33: "v"}))
        await fails(1003, _set(alice, "g-lim", "alice", **{"": "v"}))
        await fails(1003, _set(alice, "g-lim", "alice", k0="v" * 257))
        await fails(1003, alice.request("setGroupMemberAttributes", groupID="g-lim", userID="alice", attributes={}))
        await fails(1003, alice.request("setGroupMemberAttributes", groupID="g-lim", userID="alice", attributes={"k": 1}))
        await fails(1003, alice.request("deleteGroupMemberAttributes", groupID="g-lim", userID="alice", keys=[]))
        assert await _query(alice, "g-lim", "alice") == {"alice": sixteen}
        # replacing a value within the limit is fine
        assert (await _set(alice, "g-lim", "alice", k0="new"))["attributes"]["k0"] == "new"


async def test_an_offline_device_gets_every_attribute_change_on_resume_in_order(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        (alice,) = await devices(login, server, "alice", 1)
        b1, b2 = await devices(login, server, "bob", 2)
        await _group(alice, "g-resume", ["bob"], [b1, b2])
        await b2.close()
        await b1.next_event("selfDevicesChanged")
        for value in ("1", "2", "3"):
            await _set(b1, "g-resume", "bob", step=value)
        await _set(alice, "g-resume", "bob", by="owner")
        await b2.reconnect()
        replayed = [await _updated(b2) for _ in range(4)]
        assert [e["attributes"] for e in replayed] == [
            {"step": "1"}, {"step": "2"}, {"step": "3"}, {"step": "3", "by": "owner"},
        ]
        assert [e["operatedBy"] for e in replayed] == ["bob", "bob", "bob", "alice"]
        assert_consecutive(replayed)
        assert await _query(b2, "g-resume", "bob") == {"bob": {"step": "3", "by": "owner"}}
