"""Group join modes and join applications over real WebSockets (PROTOCOL.md §9, "Joining").

joinMode 0 Any lets anyone join, 1 Auth turns a joinGroup into an
application that an Admin or the Owner answers, 2 Forbid refuses joinGroup
(4003). A user kicked out may not rejoin by joinGroup in any mode until
invited again. Applications and mode changes are durable events, seen on
every device concerned.
"""

from __future__ import annotations

from typing import Any

import trio

from hubbub_client import Client

from .conftest import Login, StartServer
from .messaging_support import devices, fails, until

ANY, AUTH, FORBID = 0, 1, 2
WAITING, ACCEPTED, REJECTED = 1, 2, 3
ADDED, REMOVED = 0, 1


async def _create(client: Client, group_id: str, members: list[str], **info: Any) -> dict[str, Any]:
    return await client.request("createGroup", groupInfo={"groupID": group_id, "groupName": group_id, **info}, userIDs=members)


async def _applications(client: Client) -> list[tuple[str, str]]:
    found = (await client.request("queryGroupApplicationList"))["applicationList"]
    assert all(a["state"] == WAITING for a in found)
    return [(a["groupID"], a["userID"]) for a in found]


async def _application_change(client: Client) -> dict[str, Any]:
    events = await until(client, lambda e: e.get("ev") == "groupApplicationListChanged")
    return events[-1]


async def _member_ids(client: Client, group_id: str) -> set[str]:
    reply = await client.request("queryGroupMemberList", groupID=group_id, config={"count": 100, "nextFlag": 0})
    return {m["userID"] for m in reply["userList"]}


async def test_any_is_the_default_and_forbid_takes_members_by_invitation_only(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        (alice,) = await devices(login, server, "alice", 1)
        (carol,) = await devices(login, server, "carol", 1)
        created = await _create(alice, "g-any", [])
        assert created["groupInfo"]["joinMode"] == ANY
        joined = await carol.request("joinGroup", groupID="g-any")
        assert joined["groupInfo"]["joinMode"] == ANY and joined.get("application") is None
        assert await _member_ids(alice, "g-any") == {"alice", "carol"}

        assert (await _create(alice, "g-closed", [], joinMode=FORBID))["groupInfo"]["joinMode"] == FORBID
        await fails(4003, carol.request("joinGroup", groupID="g-closed"))
        assert await _member_ids(alice, "g-closed") == {"alice"}
        assert await _applications(alice) == []
        await alice.request("inviteUsersIntoGroup", groupID="g-closed", userIDs=["carol"])
        assert await _member_ids(carol, "g-closed") == {"alice", "carol"}

        await fails(1003, _create(alice, "g-bad", [], joinMode=3))
        await fails(1003, alice.request("updateGroupJoinMode", groupID="g-any", joinMode=-1))
        await fails(4001, alice.request("updateGroupJoinMode", groupID="g-nowhere", joinMode=AUTH))
        assert (await alice.request("queryGroupInfo", groupID="g-any"))["groupInfo"]["joinMode"] == ANY


async def test_join_mode_changes_need_admin_or_owner_and_reach_every_member_device(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        await _create(a1, "g-mode", ["bob"])
        for device in (a2, b1, b2):
            await device.next_event("groupStateChanged")
        await fails(4003, b1.request("updateGroupJoinMode", groupID="g-mode", joinMode=FORBID))
        reply = await a1.request("updateGroupJoinMode", groupID="g-mode", joinMode=AUTH)
        assert (reply["groupID"], reply["joinMode"]) == ("g-mode", AUTH)
        for device, from_user in ((a2, "alice"), (b1, None), (b2, None)):
            event = await device.next_event("groupJoinModeUpdated")
            assert (event["groupID"], event["joinMode"], event["operatedInfo"]) == ("g-mode", AUTH, {"userID": "alice"})
            assert event.get("fromUserID") == from_user and "seq" in event
        assert (await b2.request("queryGroupInfo", groupID="g-mode"))["groupInfo"]["joinMode"] == AUTH


async def test_auth_applications_are_answered_by_an_admin_and_leave_every_admin_device(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(40):
        a1, a2 = await devices(login, server, "alice", 2)  # Owner
        b1, b2 = await devices(login, server, "bob", 2)  # Admin
        (dave,) = await devices(login, server, "dave", 1)  # Member
        c1, c2 = await devices(login, server, "carol", 2)  # applicant
        (erin,) = await devices(login, server, "erin", 1)  # applicant, rejected
        await _create(a1, "g-auth", ["bob", "dave"], joinMode=AUTH)
        await a1.request("setGroupMemberRole", groupID="g-auth", userID="bob", role=2)

        applied = await c1.request("joinGroup", groupID="g-auth")
        application = applied["application"]
        assert (application["groupID"], application["userID"], application["state"]) == ("g-auth", "carol", WAITING)
        assert application.get("operatedBy") is None
        assert await _member_ids(a1, "g-auth") == {"alice", "bob", "dave"}
        for device in (a1, a2, b1, b2, c2):
            changed = await _application_change(device)
            assert (changed["action"], changed["applicationList"]) == (ADDED, [application])
            assert changed.get("fromUserID") == ("carol" if device is c2 else None)
        await fails(4004, c2.request("joinGroup", groupID="g-auth"))
        for device in (a2, b2, c1):
            assert await _applications(device) == [("g-auth", "carol")]
        assert await _applications(dave) == []
        await fails(4003, dave.request("acceptGroupJoinApplication", groupID="g-auth", userID="carol"))

        accepted = (await b1.request("acceptGroupJoinApplication", groupID="g-auth", userID="carol"))["applicationList"]
        assert [(a["userID"], a["state"], a["operatedBy"]) for a in accepted] == [("carol", ACCEPTED, {"userID": "bob"})]
        # gone from every Admin's and the Owner's devices, and from the applicant's
        for device in (c1, c2):  # the applicant's devices hear it joined, then that its application is answered
            joined = await until(device, lambda e: e.get("ev") == "groupStateChanged")
            assert (joined[-1]["state"], joined[-1]["groupInfo"]["groupID"]) == (1, "g-auth")
        for device in (a1, a2, b2, c1, c2):
            changed = await _application_change(device)
            assert (changed["action"], changed["applicationList"]) == (REMOVED, accepted)
            assert await _applications(device) == []
        entered = await until(dave, lambda e: e.get("ev") == "groupMemberStateChanged")
        assert [u["userID"] for u in entered[-1]["userList"]] == ["carol"]
        assert not [e for e in entered if e.get("ev") == "groupApplicationListChanged"]  # plain members hear of no application
        assert await _member_ids(dave, "g-auth") == {"alice", "bob", "dave", "carol"}
        await fails(1003, a1.request("acceptGroupJoinApplication", groupID="g-auth", userID="carol"))

        await erin.request("joinGroup", groupID="g-auth")
        for device in (a1, a2, b1, b2):
            assert (await _application_change(device))["action"] == ADDED
        rejected = (await a1.request("rejectGroupJoinApplication", groupID="g-auth", userID="erin"))["applicationList"]
        assert [(a["userID"], a["state"], a["operatedBy"]) for a in rejected] == [("erin", REJECTED, {"userID": "alice"})]
        for device in (a2, b1, b2, erin):
            changed = await _application_change(device)
            assert (changed["action"], changed["applicationList"]) == (REMOVED, rejected)
        assert await _applications(b1) == [] and await _applications(erin) == []
        assert "erin" not in await _member_ids(a1, "g-auth")


async def test_a_kicked_user_is_refused_on_rejoin_in_every_mode_until_invited(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        (alice,) = await devices(login, server, "alice", 1)
        (carol,) = await devices(login, server, "carol", 1)
        await _create(alice, "g-kick", ["carol"])
        await alice.request("kickGroupMembers", groupID="g-kick", userIDs=["carol"])
        for mode in (ANY, AUTH, FORBID):
            await alice.request("updateGroupJoinMode", groupID="g-kick", joinMode=mode)
            await fails(4003, carol.request("joinGroup", groupID="g-kick"))
        assert await _member_ids(alice, "g-kick") == {"alice"}
        assert await _applications(alice) == []

        # an invitation lifts the bar; leaving of one's own accord sets none
        await alice.request("inviteUsersIntoGroup", groupID="g-kick", userIDs=["carol"])
        await carol.request("leaveGroup", groupID="g-kick")
        await alice.request("updateGroupJoinMode", groupID="g-kick", joinMode=ANY)
        await carol.request("joinGroup", groupID="g-kick")
        assert await _member_ids(alice, "g-kick") == {"alice", "carol"}

