"""Groups over real WebSockets with multi-device accounts (PROTOCOL.md §4, §5, §9, §12).

Every group change is stored, then reaches each member's account stream as a
durable event: every device of every member hears of it, except the acting
device, which has the reply. Roles are ZIM's: Owner 1, Admin 2, Member 3;
group state and event numbers are ZIM's (actors/group/rules.py).

"Nothing else arrived" is checked with a marker: a helper user sends a
friend application with a fresh wording to the watched users; durable
events of one account reach each device in order, so the events a device
took before the marker are all it got up to then.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio

from actors.errors import StorageUnavailable
from actors.store.base import AccountWrite, Fence
from actors.store.sql_messages import write_of
from actors.store.writer import Bulk
from hubbub_client import Client
from gateway.server import Gateway
from gateway.services import account_address

from .cluster_servers import node_owning, nodes_of
from .conftest import Login, StartServer
from .messaging_support import devices, fails, take_all, until
from .store_gate import StoreGate

SYNC = "zz-sync"
_tokens = itertools.count(1)

# ZIM group state/event numbers, written out as the protocol's clients see them
ENTER, QUIT = 1, 0
CREATED, DISMISSED, JOINED, INVITED, LEFT, KICKED_OUT = 1, 2, 3, 4, 5, 6
MEMBER_JOINED, MEMBER_LEFT, MEMBER_KICKED_OUT, MEMBER_INVITED = 1, 2, 4, 5
OWNER, ADMIN, MEMBER = 1, 2, 3


def _names(events: list[dict[str, Any]]) -> list[str]:
    return [e["ev"] for e in events]


async def quiet(sync: Client, watched: dict[str, list[Client]]) -> list[list[dict[str, Any]]]:
    """Per watched device (in order), the events it took before a marker sent now."""
    token = f"marker-{next(_tokens)}"
    for user in watched:
        await sync.request("addFriend", userID=user, wording=token)
    taken = []
    for clients in watched.values():
        for client in clients:
            events = await until(
                client,
                lambda e: e.get("ev") == "friendApplicationListChanged" and e["applicationList"][0]["wording"] == token,
            )
            taken.append(events[:-1])
    return taken


async def _cast(login: Login, server: Gateway) -> tuple[dict[str, list[Client]], Client]:
    """alice and bob on two devices each, carol on one, and the marker user."""
    everyone = {name: await devices(login, server, name, count) for name, count in (("alice", 2), ("bob", 2), ("carol", 1))}
    (sync,) = await devices(login, server, SYNC, 1)
    return everyone, sync


async def create(client: Client, group_id: str | None, name: str, members: list[str]) -> dict[str, Any]:
    info: dict[str, Any] = {"groupName": name}
    if group_id is not None:
        info["groupID"] = group_id
    return await client.request("createGroup", groupInfo=info, userIDs=members)


async def send_group(client: Client, group_id: str, text: str = "hi", **fields: Any) -> dict[str, Any]:
    reply = await client.request(
        "sendMessage", toConversationID=group_id, conversationType=2, message={"type": 1, "message": text}, **fields
    )
    message: dict[str, Any] = reply["message"]
    return message


async def received(client: Client, message_id: str) -> dict[str, Any]:
    """Take events up to the groupMessageReceived carrying `message_id`; return that event."""
    events = await until(
        client, lambda e: e.get("ev") == "groupMessageReceived" and [m["messageID"] for m in e["messageList"]] == [message_id]
    )
    return events[-1]


async def group_info(client: Client, group_id: str) -> dict[str, Any]:
    info: dict[str, Any] = (await client.request("queryGroupInfo", groupID=group_id))["groupInfo"]
    return info


async def members(client: Client, group_id: str) -> dict[str, int]:
    reply = await client.request("queryGroupMemberList", groupID=group_id, config={"count": 100})
    assert reply["nextFlag"] == 0
    return {m["userID"]: m["memberRole"] for m in reply["userList"]}


async def history(client: Client, group_id: str, **config: Any) -> list[dict[str, Any]]:
    config.setdefault("count", 100)
    reply = await client.request("queryHistoryMessage", conversationID=group_id, conversationType=2, config=config)
    found: list[dict[str, Any]] = reply["messageList"]
    return found


# ---- createGroup -------------------------------------------------------------


async def test_create_group_makes_the_caller_owner_and_tells_every_member_device(
    start_server: StartServer, login: Login
) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (c1,) = await devices(login, server, "carol", 1)
        (sync,) = await devices(login, server, SYNC, 1)

        reply = await create(a1, "team", "Team", ["bob", "carol", "bob", "alice"])
        info = reply["groupInfo"]
        assert info["groupID"] == "team"
        assert info["groupName"] == "Team"
        assert info["groupNotice"] == ""
        assert info["groupAttributes"] == {}
        assert info["ownerUserID"] == "alice"
        assert info["memberCount"] == 3
        assert {m["userID"]: m["memberRole"] for m in reply["userList"]} == {"alice": OWNER, "bob": MEMBER, "carol": MEMBER}
        assert reply["errorUserList"] == []

        for device in (a2, b1, b2, c1):
            event = await device.next_event("groupStateChanged")
            assert (event["state"], event["event"]) == (ENTER, CREATED)
            assert event["groupInfo"] == info
            assert isinstance(event["seq"], int)
        for events in await quiet(sync, {"alice": [a1, a2], "bob": [b1, b2], "carol": [c1]}):
            assert "groupStateChanged" not in _names(events)  # one event per device, none for the creating one

        # a taken groupID: 4004, and the group stays as it was
        await fails(4004, create(c1, "team", "Mine now", ["sync"]))
        await fails(4004, create(b2, "team", "Team", []))
        assert await group_info(b1, "team") == info
        assert await members(c1, "team") == {"alice": OWNER, "bob": MEMBER, "carol": MEMBER}

        assert (await a2.request("queryGroupList"))["groupList"] == [
            {"groupID": "team", "groupName": "Team", "groupNotice": "", "memberRole": OWNER}
        ]
        assert [(g["groupID"], g["memberRole"]) for g in (await b2.request("queryGroupList"))["groupList"]] == [("team", MEMBER)]
        assert (await sync.request("queryGroupList"))["groupList"] == []

        # without a groupID the server names the group; alone in it, nobody else hears
        solo = (await create(b1, None, "Just me", []))["groupInfo"]
        assert solo["groupID"] and solo["ownerUserID"] == "bob" and solo["memberCount"] == 1
        event = await b2.next_event("groupStateChanged")
        assert (event["state"], event["event"], event["groupInfo"]) == (ENTER, CREATED, solo)
        assert {g["groupID"] for g in (await b1.request("queryGroupList"))["groupList"]} == {"team", solo["groupID"]}

        # unknown group 4001, non-member 4002
        await fails(4001, sync.request("queryGroupInfo", groupID="nope"))
        await fails(4001, sync.request("queryGroupMemberList", groupID="nope"))
        await fails(4002, sync.request("queryGroupInfo", groupID="team"))
        await fails(4002, sync.request("queryGroupMemberList", groupID="team"))
        await fails(4002, c1.request("queryGroupInfo", groupID=solo["groupID"]))


# ---- joinGroup / leaveGroup --------------------------------------------------


async def test_join_and_leave_tell_members_and_own_other_devices(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        d1, d2 = await devices(login, server, "dave", 2)
        (sync,) = await devices(login, server, SYNC, 1)
        await create(a1, "club", "Club", ["bob"])
        for device in (a2, b1, b2):
            await device.next_event("groupStateChanged")

        joined = await d1.request("joinGroup", groupID="club")
        assert joined["groupInfo"]["memberCount"] == 3
        for device in (a1, a2, b1, b2):
            event = await device.next_event("groupMemberStateChanged")
            assert event["groupID"] == "club"
            assert (event["state"], event["event"]) == (ENTER, MEMBER_JOINED)
            assert [u["userID"] for u in event["userList"]] == ["dave"]
            assert event["operatedInfo"] == {"userID": "dave"}
            assert isinstance(event["seq"], int)
        own = await d2.next_event("groupStateChanged")
        assert (own["state"], own["event"], own["groupInfo"]["groupID"]) == (ENTER, JOINED, "club")
        assert await members(d2, "club") == {"alice": OWNER, "bob": MEMBER, "dave": MEMBER}
        [d1_events, d2_events] = await quiet(sync, {"dave": [d1, d2]})
        assert d1_events == [] and d2_events == []

        await fails(4004, d2.request("joinGroup", groupID="club"))
        await fails(4001, d1.request("joinGroup", groupID="no-such-group"))

        # dave leaves from his second device
        assert (await d2.request("leaveGroup", groupID="club"))["groupID"] == "club"
        for device in (a1, a2, b1, b2):
            event = await device.next_event("groupMemberStateChanged")
            assert (event["groupID"], event["state"], event["event"]) == ("club", QUIT, MEMBER_LEFT)
            assert [u["userID"] for u in event["userList"]] == ["dave"]
        own = await d1.next_event("groupStateChanged")
        assert (own["state"], own["event"], own["groupInfo"]["groupID"]) == (QUIT, LEFT, "club")
        await fails(4002, d1.request("leaveGroup", groupID="club"))
        await fails(4002, d1.request("queryGroupInfo", groupID="club"))
        assert (await d1.request("queryGroupList"))["groupList"] == []

        # the Owner cannot leave while others remain; nothing changes
        await fails(4003, a2.request("leaveGroup", groupID="club"))
        assert await members(b1, "club") == {"alice": OWNER, "bob": MEMBER}
        for events in await quiet(sync, {"alice": [a1, a2], "bob": [b1, b2], "dave": [d1, d2]}):
            assert events == []

        # ... but may leave a group it is alone in, which then is gone
        await create(a1, "solo", "Solo", [])
        await a2.next_event("groupStateChanged")
        await a1.request("leaveGroup", groupID="solo")
        own = await a2.next_event("groupStateChanged")
        assert (own["state"], own["event"]) == (QUIT, LEFT)
        await fails(4001, a1.request("queryGroupInfo", groupID="solo"))
        await fails(4001, a1.request("joinGroup", groupID="solo"))


# ---- inviteUsersIntoGroup / kickGroupMembers -----------------------------------


async def test_invite_and_kick_need_admin_or_owner(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (c1,) = await devices(login, server, "carol", 1)
        e1, e2 = await devices(login, server, "erin", 2)
        f1, f2 = await devices(login, server, "frank", 2)
        (sync,) = await devices(login, server, SYNC, 1)
        everyone = {"alice": [a1, a2], "bob": [b1, b2], "carol": [c1], "erin": [e1, e2], "frank": [f1, f2]}
        await create(a1, "crew", "Crew", ["bob", "carol", "erin"])
        await a1.request("setGroupMemberRole", groupID="crew", userID="carol", role=ADMIN)
        await a1.request("setGroupMemberRole", groupID="crew", userID="erin", role=ADMIN)
        await quiet(sync, everyone)
        before = await members(a1, "crew")
        assert before == {"alice": OWNER, "bob": MEMBER, "carol": ADMIN, "erin": ADMIN}

        # a Member may neither invite nor kick
        await fails(4003, b1.request("inviteUsersIntoGroup", groupID="crew", userIDs=["frank"]))
        await fails(4003, b2.request("kickGroupMembers", groupID="crew", userIDs=["carol"]))
        await fails(4003, b2.request("kickGroupMembers", groupID="crew", userIDs=["erin"]))
        # a non-member neither
        await fails(4002, f1.request("inviteUsersIntoGroup", groupID="crew", userIDs=["frank"]))
        await fails(4002, f1.request("kickGroupMembers", groupID="crew", userIDs=["bob"]))
        # an Admin may not kick an Admin, the Owner, or itself (all or nothing)
        await fails(4003, c1.request("kickGroupMembers", groupID="crew", userIDs=["erin"]))
        await fails(4003, c1.request("kickGroupMembers", groupID="crew", userIDs=["alice"]))
        await fails(4003, c1.request("kickGroupMembers", groupID="crew", userIDs=["bob", "alice"]))
        await fails(4003, c1.request("kickGroupMembers", groupID="crew", userIDs=["carol"]))
        assert await members(e1, "crew") == before
        for events in await quiet(sync, everyone):
            assert events == []

        # an Admin invites: new users in, members already in reported back
        invited = await c1.request("inviteUsersIntoGroup", groupID="crew", userIDs=["frank", "bob"])
        assert [(u["userID"], u["memberRole"]) for u in invited["userList"]] == [("frank", MEMBER)]
        assert invited["errorUserList"] == [{"userID": "bob", "reason": 4004}]
        for device in (a1, a2, b1, b2, e1, e2):
            event = await device.next_event("groupMemberStateChanged")
            assert (event["groupID"], event["state"], event["event"]) == ("crew", ENTER, MEMBER_INVITED)
            assert [u["userID"] for u in event["userList"]] == ["frank"]
            assert event["operatedInfo"] == {"userID": "carol"}
        for device in (f1, f2):
            event = await device.next_event("groupStateChanged")
            assert (event["state"], event["event"], event["groupInfo"]["groupID"]) == (ENTER, INVITED, "crew")
            assert event["groupInfo"]["memberCount"] == 5
        assert (await f1.request("queryGroupList"))["groupList"][0]["groupID"] == "crew"

        # bob gets the messages until he is kicked
        first = await send_group(a1, "crew", "before the kick")
        for device in (b1, b2):
            await received(device, first["messageID"])

        # an Admin kicks a Member
        kicked = await c1.request("kickGroupMembers", groupID="crew", userIDs=["bob"])
        assert kicked["kickedUserIDs"] == ["bob"]
        for device in (b1, b2):
            event = await device.next_event("groupStateChanged")
            assert (event["state"], event["event"], event["groupInfo"]["groupID"]) == (QUIT, KICKED_OUT, "crew")
            assert isinstance(event["seq"], int)
        for device in (a1, a2, e1, e2, f1, f2):
            event = await device.next_event("groupMemberStateChanged")
            assert (event["state"], event["event"]) == (QUIT, MEMBER_KICKED_OUT)
            assert event["userList"] == [{"userID": "bob", "memberRole": MEMBER}]
            assert event["operatedInfo"] == {"userID": "carol"}

        # ... who stops receiving at once: the very next message does not reach him
        after = await send_group(a1, "crew", "after the kick")
        assert after["messageSeq"] == first["messageSeq"] + 1
        for device in (a2, c1, e1, e2, f1, f2):
            await received(device, after["messageID"])
        for events in await quiet(sync, {"bob": [b1, b2]}):
            assert "groupMessageReceived" not in _names(events)
        assert [m["messageID"] for m in await history(b1, "crew")] == [first["messageID"]]
        await fails(4002, send_group(b2, "crew", "let me back"))
        await fails(4002, b1.request("queryGroupInfo", groupID="crew"))
        assert (await b1.request("queryGroupList"))["groupList"] == []

        # the Owner kicks an Admin
        await a2.request("kickGroupMembers", groupID="crew", userIDs=["erin"])
        event = await e1.next_event("groupStateChanged")
        assert (event["state"], event["event"]) == (QUIT, KICKED_OUT)
        event = await a1.next_event("groupMemberStateChanged")
        assert (event["event"], event["operatedInfo"]) == (MEMBER_KICKED_OUT, {"userID": "alice"})
        assert event["userList"] == [{"userID": "erin", "memberRole": ADMIN}]  # the role erin had
        assert await members(f2, "crew") == {"alice": OWNER, "carol": ADMIN, "frank": MEMBER}
        # kicking a user who is not a member is refused
        await fails(4002, a1.request("kickGroupMembers", groupID="crew", userIDs=["bob"]))


# ---- dismissGroup ------------------------------------------------------------


async def test_dismiss_is_owner_only_and_ends_the_group_for_everyone(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (c1,) = await devices(login, server, "carol", 1)
        (sync,) = await devices(login, server, SYNC, 1)
        await create(a1, "party", "Party", ["bob", "carol"])
        await a1.request("setGroupMemberRole", groupID="party", userID="carol", role=ADMIN)
        await quiet(sync, {"alice": [a1, a2], "bob": [b1, b2], "carol": [c1]})

        await fails(4003, c1.request("dismissGroup", groupID="party"))
        await fails(4003, b1.request("dismissGroup", groupID="party"))
        await fails(4002, sync.request("dismissGroup", groupID="party"))
        await fails(4001, a1.request("dismissGroup", groupID="not-a-party"))
        assert (await group_info(b1, "party"))["memberCount"] == 3

        assert (await a1.request("dismissGroup", groupID="party"))["groupID"] == "party"
        for device in (a2, b1, b2, c1):
            event = await device.next_event("groupStateChanged")
            assert (event["state"], event["event"], event["groupInfo"]["groupID"]) == (QUIT, DISMISSED, "party")
        for events in await quiet(sync, {"alice": [a1, a2]}):
            assert "groupStateChanged" not in _names(events)

        gone: dict[str, Any] = {"groupID": "party"}
        await fails(4001, send_group(b1, "party"))
        await fails(4001, send_group(a1, "party"))
        await fails(4001, b2.request("queryGroupInfo", **gone))
        await fails(4001, a2.request("queryGroupMemberList", **gone))
        await fails(4001, sync.request("joinGroup", **gone))
        await fails(4001, b1.request("leaveGroup", **gone))
        await fails(4001, a1.request("inviteUsersIntoGroup", **gone, userIDs=[SYNC]))
        await fails(4001, c1.request("kickGroupMembers", **gone, userIDs=["bob"]))
        await fails(4001, a1.request("updateGroupName", **gone, groupName="Again"))
        await fails(4001, a1.request("updateGroupNotice", **gone, groupNotice="n"))
        await fails(4001, a1.request("setGroupAttributes", **gone, groupAttributes={"k": "v"}))
        await fails(4001, a1.request("deleteGroupAttributes", **gone, keys=["k"]))
        await fails(4001, a1.request("transferGroupOwner", **gone, toUserID="bob"))
        await fails(4001, a1.request("setGroupMemberRole", **gone, userID="bob", role=ADMIN))
        await fails(4001, a1.request("dismissGroup", **gone))
        for device in (a1, b1, c1):
            assert (await device.request("queryGroupList"))["groupList"] == []
        # the groupID stays taken
        await fails(4004, create(b1, "party", "Party 2", []))


# ---- transferGroupOwner / setGroupMemberRole ------------------------------------


async def test_roles_change_only_by_the_owner(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        everyone, sync = await _cast(login, server)
        (a1, a2), (b1, b2), (c1,) = everyone.values()
        await create(a1, "guild", "Guild", ["bob", "carol"])
        await quiet(sync, everyone)

        await fails(4003, b1.request("setGroupMemberRole", groupID="guild", userID="carol", role=ADMIN))
        await fails(4003, b1.request("setGroupMemberRole", groupID="guild", userID="bob", role=ADMIN))
        await fails(4003, b1.request("transferGroupOwner", groupID="guild", toUserID="bob"))
        await fails(4002, sync.request("setGroupMemberRole", groupID="guild", userID="bob", role=ADMIN))
        await fails(4002, sync.request("transferGroupOwner", groupID="guild", toUserID=SYNC))
        await fails(4002, a1.request("setGroupMemberRole", groupID="guild", userID=SYNC, role=ADMIN))
        await fails(4002, a1.request("transferGroupOwner", groupID="guild", toUserID=SYNC))
        for events in await quiet(sync, everyone):
            assert events == []

        # the Owner makes bob an Admin: every member's devices hear it
        reply = await a1.request("setGroupMemberRole", groupID="guild", userID="bob", role=ADMIN)
        assert reply["userInfo"] == [{"userID": "bob", "memberRole": ADMIN}]
        for device in (a2, b1, b2, c1):
            event = await device.next_event("groupMemberInfoUpdated")
            assert event["groupID"] == "guild"
            assert event["userInfo"] == [{"userID": "bob", "memberRole": ADMIN}]
            assert event["operatedInfo"] == {"userID": "alice"}
            assert isinstance(event["seq"], int)
        # an Admin still may not change roles or transfer
        await fails(4003, b2.request("setGroupMemberRole", groupID="guild", userID="carol", role=ADMIN))
        await fails(4003, b2.request("transferGroupOwner", groupID="guild", toUserID="bob"))
        assert await members(c1, "guild") == {"alice": OWNER, "bob": ADMIN, "carol": MEMBER}

        # the Owner transfers to carol and becomes a Member
        reply = await a2.request("transferGroupOwner", groupID="guild", toUserID="carol")
        expected = {"carol": OWNER, "alice": MEMBER}
        assert {u["userID"]: u["memberRole"] for u in reply["userInfo"]} == expected
        for device in (a1, b1, b2, c1):
            event = await device.next_event("groupMemberInfoUpdated")
            assert {u["userID"]: u["memberRole"] for u in event["userInfo"]} == expected
            assert event["operatedInfo"] == {"userID": "alice"}
        assert (await group_info(b1, "guild"))["ownerUserID"] == "carol"
        assert await members(a1, "guild") == {"carol": OWNER, "bob": ADMIN, "alice": MEMBER}
        assert {g["groupID"]: g["memberRole"] for g in (await a1.request("queryGroupList"))["groupList"]} == {"guild": MEMBER}

        await fails(4003, a1.request("setGroupMemberRole", groupID="guild", userID="bob", role=MEMBER))
        await fails(4003, a1.request("transferGroupOwner", groupID="guild", toUserID="alice"))
        await fails(4003, c1.request("leaveGroup", groupID="guild"))
        # the new Owner demotes bob; alice, no longer Owner, may leave
        await c1.request("setGroupMemberRole", groupID="guild", userID="bob", role=MEMBER)
        for device in (a1, a2, b1, b2):
            event = await device.next_event("groupMemberInfoUpdated")
            assert event["userInfo"] == [{"userID": "bob", "memberRole": MEMBER}]
            assert event["operatedInfo"] == {"userID": "carol"}
        await a1.request("leaveGroup", groupID="guild")
        assert await members(b1, "guild") == {"carol": OWNER, "bob": MEMBER}
        await fails(4002, c1.request("setGroupMemberRole", groupID="guild", userID="alice", role=ADMIN))


# ---- name, notice, attributes --------------------------------------------------


async def test_name_notice_and_attributes_need_admin_or_owner(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        everyone, sync = await _cast(login, server)
        (a1, a2), (b1, b2), (c1,) = everyone.values()
        await create(a1, "news", "News", ["bob", "carol"])
        await a1.request("setGroupMemberRole", groupID="news", userID="carol", role=ADMIN)
        await quiet(sync, everyone)
        original = await group_info(a1, "news")

        g: dict[str, Any] = {"groupID": "news"}
        for client in (b1, sync):
            code = 4003 if client is b1 else 4002
            await fails(code, client.request("updateGroupName", **g, groupName="Mine"))
            await fails(code, client.request("updateGroupNotice", **g, groupNotice="mine"))
            await fails(code, client.request("setGroupAttributes", **g, groupAttributes={"k": "v"}))
            await fails(code, client.request("deleteGroupAttributes", **g, keys=["k"]))
        assert await group_info(b2, "news") == original
        for events in await quiet(sync, everyone):
            assert events == []

        # an Admin renames
        reply = await c1.request("updateGroupName", **g, groupName="Daily News")
        assert reply["groupInfo"]["groupName"] == "Daily News"
        for device in (a1, a2, b1, b2):
            event = await device.next_event("groupNameUpdated")
            assert (event["groupID"], event["groupName"], event["operatedInfo"]) == ("news", "Daily News", {"userID": "carol"})
            assert isinstance(event["seq"], int)
        # the Owner sets the notice, from one device: the other one hears it
        await a1.request("updateGroupNotice", **g, groupNotice="read me")
        for device in (a2, b1, b2, c1):
            event = await device.next_event("groupNoticeUpdated")
            assert (event["groupID"], event["groupNotice"], event["operatedInfo"]) == ("news", "read me", {"userID": "alice"})
        await a2.request("setGroupAttributes", **g, groupAttributes={"k1": "v1", "k2": "v2"})
        for device in (a1, b1, b2, c1):
            event = await device.next_event("groupAttributesUpdated")
            assert event["groupID"] == "news"
            assert event["infos"] == [{"action": 0, "groupAttributes": {"k1": "v1", "k2": "v2"}}]
        await c1.request("deleteGroupAttributes", **g, keys=["k1"])
        for device in (a1, a2, b1, b2):
            event = await device.next_event("groupAttributesUpdated")
            assert event["infos"] == [{"action": 1, "groupAttributes": {"k1": ""}}]
            assert event["operatedInfo"] == {"userID": "carol"}
        for events in await quiet(sync, everyone):
            assert events == []  # exactly one event per change, none on the acting device

        info = await group_info(b1, "news")
        assert (info["groupName"], info["groupNotice"], info["groupAttributes"]) == ("Daily News", "read me", {"k2": "v2"})
        assert (await b2.request("queryGroupList"))["groupList"] == [
            {"groupID": "news", "groupName": "Daily News", "groupNotice": "read me", "memberRole": MEMBER}
        ]


# ---- queryGroupMemberList paging -------------------------------------------------


async def test_member_list_pages_owner_and_admins_first(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        (a1,) = await devices(login, server, "alice", 1)
        (x1,) = await devices(login, server, "xena", 1)
        others = [f"u{i}" for i in range(1, 7)]
        await create(a1, "big", "Big", others)
        await a1.request("setGroupMemberRole", groupID="big", userID="u3", role=ADMIN)
        await fails(4002, x1.request("queryGroupMemberList", groupID="big", config={"count": 3}))

        pages, flag = [], 0
        while True:
            reply = await a1.request("queryGroupMemberList", groupID="big", config={"count": 3, "nextFlag": flag})
            assert reply["groupID"] == "big"
            pages.append([(m["userID"], m["memberRole"]) for m in reply["userList"]])
            flag = reply["nextFlag"]
            if flag == 0:
                break
            assert len(reply["userList"]) == 3
        assert [len(p) for p in pages] == [3, 3, 1]
        flat = [m for page in pages for m in page]
        assert flat[:2] == [("alice", OWNER), ("u3", ADMIN)]
        assert sorted(flat) == sorted([("alice", OWNER), ("u3", ADMIN)] + [(u, MEMBER) for u in others if u != "u3"])
        everything = await a1.request("queryGroupMemberList", groupID="big")
        assert ([(m["userID"], m["memberRole"]) for m in everything["userList"]], everything["nextFlag"]) == (flat, 0)
        assert all(isinstance(m["joinTime"], int) for m in everything["userList"])
        past_end = await a1.request("queryGroupMemberList", groupID="big", config={"count": 5, "nextFlag": 50})
        assert (past_end["userList"], past_end["nextFlag"]) == ([], 0)


# ---- group messages ----------------------------------------------------------------


async def test_group_messages_reach_every_member_device_but_the_sending_one(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        everyone, sync = await _cast(login, server)
        (a1, a2), (b1, b2), (c1,) = everyone.values()
        await create(a1, "chat", "Chat", ["bob", "carol"])
        await quiet(sync, everyone)

        sent = [await send_group(a1, "chat", f"m{i}") for i in (1, 2, 3)]
        assert [(m["messageSeq"], m["direction"], m["conversationID"], m["conversationType"]) for m in sent] == [
            (1, 0, "chat", 2), (2, 0, "chat", 2), (3, 0, "chat", 2),
        ]
        assert [m["senderUserID"] for m in sent] == ["alice"] * 3
        for m in sent:
            event = await a2.next_event("groupMessageReceived")
            assert (event["fromConversationID"], event["messageList"]) == ("chat", [m])
        for device in (b1, b2, c1):
            for m in sent:
                event = await device.next_event("groupMessageReceived")
                assert event["fromConversationID"] == "chat"
                assert event["messageList"] == [{**m, "direction": 1}]
            totals = [(await device.next_event("conversationTotalUnreadMessageCountUpdated"))["totalUnreadMessageCount"] for _ in sent]
            assert totals == [1, 2, 3]
        [a1_events, a2_events, *_] = await quiet(sync, everyone)
        assert "groupMessageReceived" not in _names(a1_events)
        assert "conversationTotalUnreadMessageCountUpdated" not in _names(a1_events + a2_events)

        # bob answers from his second device: seq 4 for every member
        answer = await send_group(b2, "chat", "m4")
        assert answer["messageSeq"] == 4
        assert (await received(b1, answer["messageID"]))["messageList"][0]["direction"] == 0
        for device in (a1, a2, c1):
            got = (await received(device, answer["messageID"]))["messageList"][0]
            assert (got["messageSeq"], got["direction"], got["senderUserID"]) == (4, 1, "bob")
        for device in (a1, a2):
            assert (await device.next_event("conversationTotalUnreadMessageCountUpdated"))["totalUnreadMessageCount"] == 1

        async def unread(client: Client) -> int:
            reply = await client.request("queryConversation", conversationID="chat", conversationType=2)
            count: int = reply["conversation"]["unreadMessageCount"]
            return count

        assert [await unread(d) for d in (a1, a2, b1, b2, c1)] == [1, 1, 3, 3, 4]

        found = await history(c1, "chat")
        assert [(m["messageSeq"], m["message"], m["direction"]) for m in found] == [
            (4, "m4", 1), (3, "m3", 1), (2, "m2", 1), (1, "m1", 1),
        ]
        assert [(m["messageSeq"], m["direction"]) for m in await history(a2, "chat")] == [(4, 1), (3, 0), (2, 0), (1, 0)]
        oldest = await history(b1, "chat", count=2, reverse=True)
        assert [(m["messageSeq"], m["direction"]) for m in oldest] == [(1, 1), (2, 1)]
        page = await history(b1, "chat", count=2, nextMessageSeq=3)
        assert [m["messageSeq"] for m in page] == [2, 1]

        # sending to a group one is not in, or that does not exist
        await fails(4002, send_group(sync, "chat"))
        await fails(4001, send_group(a1, "no-such-chat"))


async def test_group_revoke_and_delete(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        everyone, sync = await _cast(login, server)
        (a1, a2), (b1, b2), (c1,) = everyone.values()
        await create(a1, "talk", "Talk", ["bob", "carol"])
        first = await send_group(a1, "talk", "oops")
        second = await send_group(a1, "talk", "keep")
        await quiet(sync, everyone)

        await fails(4003, b1.request("revokeMessage", conversationID="talk", conversationType=2, messageID=first["messageID"]))
        revoked = await a1.request("revokeMessage", conversationID="talk", conversationType=2, messageID=first["messageID"])
        assert (revoked["message"]["messageID"], revoked["message"]["isRevoked"]) == (first["messageID"], True)
        for device in (a2, b1, b2, c1):
            event = await device.next_event("messageRevokeReceived")
            [message] = event["messageList"]
            assert (message["messageID"], message["isRevoked"], message["conversationID"]) == (first["messageID"], True, "talk")
            assert isinstance(event["seq"], int)
        for device in (b2, c1):
            assert [(m["messageID"], m["isRevoked"]) for m in await history(device, "talk")] == [
                (second["messageID"], False), (first["messageID"], True),
            ]

        # bob deletes the second message from his history on the server: only his view changes
        await b1.request(
            "deleteMessages", conversationID="talk", conversationType=2,
            messageIDs=[second["messageID"]], config={"isAlsoDeleteServerMessage": True},
        )
        event = await b2.next_event("messageDeleted")
        assert (event["conversationID"], event["conversationType"], event["messageDeleteType"]) == ("talk", 2, 0)
        assert event["isDeleteConversationAllMessage"] is False
        assert [m["messageID"] for m in event["messageList"]] == [second["messageID"]]
        assert [m["messageID"] for m in await history(b2, "talk")] == [first["messageID"]]
        for device in (a1, c1):
            assert [m["messageID"] for m in await history(device, "talk")] == [second["messageID"], first["messageID"]]
        for events in await quiet(sync, everyone):
            assert "messageDeleted" not in _names(events)
            assert "messageRevokeReceived" not in _names(events)


async def test_group_receipts_count_readers(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        everyone, sync = await _cast(login, server)
        (a1, a2), (b1, b2), (c1,) = everyone.values()
        await create(a1, "rcpt", "Receipts", ["bob", "carol"])
        sent = await send_group(a1, "rcpt", "please read", config={"hasReceipt": True})
        assert sent["receiptStatus"] == 1
        for device in (a2, b1, b2, c1):
            assert (await received(device, sent["messageID"]))["messageList"][0]["receiptStatus"] == 1
        await quiet(sync, everyone)
        ids: dict[str, Any] = {"conversationID": "rcpt", "conversationType": 2, "messageIDs": [sent["messageID"]]}

        def counts(info: dict[str, Any]) -> tuple[Any, ...]:
            return (info["messageID"], info["conversationID"], info["conversationType"], info["status"],
                    info["readMemberCount"], info["unreadMemberCount"], info["isSelfOperated"])

        # the sender cannot mark its own message read
        await fails(1003, a2.request("sendMessageReceiptsRead", **ids))

        reply = await b1.request("sendMessageReceiptsRead", **ids)
        assert [counts(i) for i in reply["infos"]] == [(sent["messageID"], "rcpt", 2, 1, 1, 1, True)]
        [info] = (await b2.next_event("messageReceiptChanged"))["infos"]
        assert counts(info) == (sent["messageID"], "rcpt", 2, 1, 1, 1, True)
        for device in (a1, a2):
            [info] = (await device.next_event("messageReceiptChanged"))["infos"]
            assert counts(info) == (sent["messageID"], "rcpt", 2, 1, 1, 1, False)

        # a member that reads again is still counted once
        reply = await b2.request("sendMessageReceiptsRead", **ids)
        assert [counts(i) for i in reply["infos"]] == [(sent["messageID"], "rcpt", 2, 1, 1, 1, True)]
        for device, self_operated in ((b1, True), (a1, False), (a2, False)):
            [info] = (await device.next_event("messageReceiptChanged"))["infos"]
            assert counts(info) == (sent["messageID"], "rcpt", 2, 1, 1, 1, self_operated)

        reply = await c1.request("sendMessageReceiptsRead", **ids)
        assert [counts(i) for i in reply["infos"]] == [(sent["messageID"], "rcpt", 2, 2, 2, 0, True)]
        for device in (a1, a2):
            [info] = (await device.next_event("messageReceiptChanged"))["infos"]
            assert counts(info) == (sent["messageID"], "rcpt", 2, 2, 2, 0, False)
        [a1_events, a2_events, b1_events, b2_events, c1_events] = await quiet(sync, everyone)
        assert "messageReceiptChanged" not in _names(a1_events + a2_events + b1_events + b2_events + c1_events)
        assert [m["receiptStatus"] for m in await history(a1, "rcpt")] == [2]


async def test_group_receipt_query_counts_members(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        (c1,) = await devices(login, server, "carol", 1)
        await create(a1, "rq", "Receipt query", ["bob", "carol"])
        sent = await send_group(a1, "rq", "read me", config={"hasReceipt": True})
        await received(b1, sent["messageID"])
        await received(c1, sent["messageID"])
        ids: dict[str, Any] = {"conversationID": "rq", "conversationType": 2, "messageIDs": [sent["messageID"]]}

        def counts(reply: dict[str, Any]) -> list[tuple[int, int, int]]:
            return [(i["status"], i["readMemberCount"], i["unreadMemberCount"]) for i in reply["infos"]]

        assert counts(await a1.request("queryMessageReceiptsInfo", **ids)) == [(1, 0, 2)]
        await b1.request("sendMessageReceiptsRead", **ids)
        await a2.next_event("messageReceiptChanged")
        assert counts(await a2.request("queryMessageReceiptsInfo", **ids)) == [(1, 1, 1)]
        await c1.request("sendMessageReceiptsRead", **ids)
        await a2.next_event("messageReceiptChanged")
        assert counts(await a2.request("queryMessageReceiptsInfo", **ids)) == [(2, 2, 0)]


# ---- resume ------------------------------------------------------------------------


async def test_offline_member_resumes_every_group_event_in_order(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        (a1,) = await devices(login, server, "alice", 1)
        c1, c2 = await devices(login, server, "carol", 2)
        await create(a1, "later", "Later", ["carol"])
        await c1.next_event("groupStateChanged")
        await c2.next_event("groupStateChanged")
        await c2.close()
        await c1.next_event("selfDevicesChanged")

        # while c2 is away
        one = await send_group(a1, "later", "one")
        await a1.request("updateGroupName", groupID="later", groupName="Renamed")
        await a1.request("inviteUsersIntoGroup", groupID="later", userIDs=["erin"])
        two = await send_group(a1, "later", "two")
        await a1.request("setGroupAttributes", groupID="later", groupAttributes={"topic": "resume"})
        await a1.request("setGroupMemberRole", groupID="later", userID="carol", role=ADMIN)
        live = await until(c1, lambda e: e.get("ev") == "groupMemberInfoUpdated")
        three = await send_group(c1, "later", "three")  # from carol's other device

        reply = await c2.reconnect(close_first=False)
        assert reply["resumeGap"] is False
        replayed = await until(c2, lambda e: e.get("ev") == "groupMessageReceived" and e["messageList"][0]["message"] == "three")
        replayed = [e for e in replayed if "seq" in e]
        # the same durable events c1 saw live, in order, then carol's own message
        assert replayed[: len(live)] == [e for e in live if "seq" in e]
        seqs = [e["seq"] for e in replayed]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        story = [
            (e["ev"], e["messageList"][0]["message"]) if e["ev"] == "groupMessageReceived" else (e["ev"], None)
            for e in replayed
            if e["ev"] not in ("conversationChanged", "conversationTotalUnreadMessageCountUpdated")
        ]
        assert story == [
            ("groupMessageReceived", "one"),
            ("groupNameUpdated", None),
            ("groupMemberStateChanged", None),
            ("groupMessageReceived", "two"),
            ("groupAttributesUpdated", None),
            ("groupMemberInfoUpdated", None),
            ("groupMessageReceived", "three"),
        ]
        messages = [e["messageList"][0] for e in replayed if e["ev"] == "groupMessageReceived"]
        assert [(m["messageID"], m["messageSeq"], m["direction"]) for m in messages] == [
            (one["messageID"], 1, 1), (two["messageID"], 2, 1), (three["messageID"], 3, 0),
        ]
        invited = next(e for e in replayed if e["ev"] == "groupMemberStateChanged")
        assert (invited["event"], [u["userID"] for u in invited["userList"]]) == (MEMBER_INVITED, ["erin"])
        assert next(e for e in replayed if e["ev"] == "groupNameUpdated")["groupName"] == "Renamed"


# ---- a large group -----------------------------------------------------------------


async def test_two_hundred_member_group_delivers_to_every_online_member(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(45):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (c1,) = await devices(login, server, "carol", 1)
        offline = [f"m{i:03}" for i in range(197)]
        reply = await create(a1, "crowd", "Crowd", ["bob", "carol", *offline])
        assert reply["groupInfo"]["memberCount"] == 200
        for device in (a2, b1, b2, c1):
            await device.next_event("groupStateChanged")

        sent = await send_group(a1, "crowd", "hello everyone")
        for device in (a2, b1, b2, c1):
            got = (await received(device, sent["messageID"]))["messageList"][0]
            assert (got["messageSeq"], got["message"]) == (1, "hello everyone")
        answer = await send_group(c1, "crowd", "hi alice")
        for device in (a1, a2, b1, b2):
            assert (await received(device, answer["messageID"]))["messageList"][0]["messageSeq"] == 2

        first = await b1.request("queryGroupMemberList", groupID="crowd", config={"count": 100})
        second = await b1.request("queryGroupMemberList", groupID="crowd", config={"count": 100, "nextFlag": first["nextFlag"]})
        assert (len(first["userList"]), first["nextFlag"], len(second["userList"]), second["nextFlag"]) == (100, 100, 100, 0)
        assert {m["userID"] for m in first["userList"] + second["userList"]} == {"alice", "bob", "carol", *offline}

        # a member who was never online has it all in its stream and history
        late = await login(server, "m123", device="m123-iOS", resume_from=0)
        got = await received(late, answer["messageID"])
        assert got["messageList"][0]["messageSeq"] == 2
        assert [m["messageSeq"] for m in await history(late, "crowd")] == [2, 1]


async def test_members_never_online_get_group_events_in_order(start_server: StartServer, login: Login) -> None:
    """Accounts that start because a group told them something keep the group's order.

    Creating the group starts every member's account actor; the changes and
    messages that follow must land in each stream in the order they happened.
    """
    server = await start_server("multi")
    with trio.fail_after(30):
        (a1,) = await devices(login, server, "alice", 1)
        offline = [f"n{i:03}" for i in range(300)]
        await create(a1, "busy", "Busy", offline)
        one = await send_group(a1, "busy", "one")
        await a1.request("updateGroupName", groupID="busy", groupName="Busier")
        two = await send_group(a1, "busy", "two")

        for user in offline[::30]:
            late = await login(server, user, device=f"{user}-iOS", resume_from=0)
            taken = await until(
                late, lambda e: e.get("ev") == "groupMessageReceived" and e["messageList"][0]["messageID"] == two["messageID"]
            )
            events = [e for e in taken if "seq" in e]
            story = [
                e["messageList"][0]["messageID"] if e["ev"] == "groupMessageReceived" else e["ev"]
                for e in events
                if e["ev"] not in ("conversationChanged", "conversationTotalUnreadMessageCountUpdated")
            ]
            assert story == ["groupStateChanged", one["messageID"], "groupNameUpdated", two["messageID"]], user
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


# ---- idempotent sends ----------------------------------------------------------------


async def test_group_send_repeat_returns_the_original(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        (sync,) = await devices(login, server, SYNC, 1)
        await create(a1, "once", "Once", ["bob"])
        await create(a1, "twice", "Twice", ["bob"])

        sent = await send_group(a1, "once", "only once", clientMessageID="key-1")
        again = await send_group(a2, "once", "only once", clientMessageID="key-1")
        assert again == sent and sent["messageSeq"] == 1
        # the key is the user's: used again for another group or a peer message, it still names the original
        assert await send_group(a1, "twice", "elsewhere", clientMessageID="key-1") == sent
        peer = (await a1.request(
            "sendMessage", toConversationID="bob", conversationType=0, message={"type": 1, "message": "p"}, clientMessageID="key-2"
        ))["message"]
        assert await send_group(a1, "once", "reused", clientMessageID="key-2") == peer

        later = await send_group(a1, "once", "next")
        assert later["messageSeq"] == 2
        await received(b1, later["messageID"])
        got = [m["messageID"] for m in await history(b1, "once")]
        assert got == [later["messageID"], sent["messageID"]]
        assert await history(b1, "twice") == []
        [a1_events, a2_events] = await quiet(sync, {"alice": [a1, a2]})
        assert [m["messageID"] for e in a2_events if e["ev"] == "groupMessageReceived" for m in e["messageList"]] == [
            sent["messageID"], later["messageID"],
        ]


# ---- bad input -----------------------------------------------------------------------


async def test_bad_group_requests_get_1003_and_change_nothing(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (sync,) = await devices(login, server, SYNC, 1)
        everyone = {"alice": [a1, a2], "bob": [b1, b2]}
        await create(a1, "safe", "Safe", ["bob"])
        await a1.request("setGroupAttributes", groupID="safe", groupAttributes={f"k{i}": "v" for i in range(60)})
        await quiet(sync, everyone)
        info_before = await group_info(a1, "safe")
        members_before = await members(a1, "safe")
        lists_before = [(await d.request("queryGroupList"))["groupList"] for d in (a1, b1)]

        g: dict[str, Any] = {"groupID": "safe"}
        long_name = "n" * 257
        bad: list[tuple[str, dict[str, Any]]] = [
            ("createGroup", {"userIDs": ["bob"]}),
            ("createGroup", {"groupInfo": "safe2", "userIDs": []}),
            ("createGroup", {"groupInfo": {"groupID": "new1", "groupName": long_name}}),
            ("createGroup", {"groupInfo": {"groupID": "new1", "groupName": 5}}),
            ("createGroup", {"groupInfo": {"groupID": "bad id", "groupName": "x"}}),
            ("createGroup", {"groupInfo": {"groupID": "g" * 129, "groupName": "x"}}),
            ("createGroup", {"groupInfo": {"groupID": "", "groupName": "x"}}),
            ("createGroup", {"groupInfo": {"groupID": "new1", "groupName": "x"}, "userIDs": "bob"}),
            ("createGroup", {"groupInfo": {"groupID": "new1", "groupName": "x"}, "userIDs": [5]}),
            ("createGroup", {"groupInfo": {"groupID": "new1", "groupName": "x"}, "userIDs": ["bad id"]}),
            ("createGroup", {"groupInfo": {"groupID": "new1", "groupName": "x"}, "userIDs": [f"u{i}" for i in range(501)]}),
            ("joinGroup", {}),
            ("joinGroup", {"groupID": 7}),
            ("joinGroup", {"groupID": ""}),
            ("leaveGroup", {"groupID": None}),
            ("inviteUsersIntoGroup", {**g}),
            ("inviteUsersIntoGroup", {**g, "userIDs": []}),
            ("inviteUsersIntoGroup", {**g, "userIDs": "carol"}),
            ("inviteUsersIntoGroup", {**g, "userIDs": ["bad id"]}),
            ("inviteUsersIntoGroup", {**g, "userIDs": [f"u{i}" for i in range(101)]}),
            ("inviteUsersIntoGroup", {"userIDs": ["carol"]}),
            ("kickGroupMembers", {**g, "userIDs": []}),
            ("kickGroupMembers", {**g, "userIDs": "bob"}),
            ("kickGroupMembers", {**g, "userIDs": [None]}),
            ("dismissGroup", {"groupID": ["safe"]}),
            ("transferGroupOwner", {**g}),
            ("transferGroupOwner", {**g, "toUserID": 3}),
            ("setGroupMemberRole", {**g, "userID": "bob", "role": 1}),
            ("setGroupMemberRole", {**g, "userID": "bob", "role": 4}),
            ("setGroupMemberRole", {**g, "userID": "bob", "role": 0}),
            ("setGroupMemberRole", {**g, "userID": "bob", "role": "2"}),
            ("setGroupMemberRole", {**g, "userID": "bob", "role": True}),
            ("setGroupMemberRole", {**g, "userID": "bob"}),
            ("setGroupMemberRole", {**g, "role": 2}),
            ("setGroupMemberRole", {**g, "userID": "alice", "role": 2}),  # the owner's own role
            ("transferGroupOwner", {**g, "toUserID": "alice"}),  # to oneself
            ("updateGroupName", {**g, "groupName": long_name}),
            ("updateGroupName", {**g, "groupName": None}),
            ("updateGroupName", {**g}),
            ("updateGroupNotice", {**g, "groupNotice": "n" * 4097}),
            ("updateGroupNotice", {**g, "groupNotice": ["n"]}),
            ("setGroupAttributes", {**g, "groupAttributes": {}}),
            ("setGroupAttributes", {**g, "groupAttributes": "k=v"}),
            ("setGroupAttributes", {**g, "groupAttributes": {f"x{i}": "v" for i in range(101)}}),
            ("setGroupAttributes", {**g, "groupAttributes": {"": "v"}}),
            ("setGroupAttributes", {**g, "groupAttributes": {"k" * 33: "v"}}),
            ("setGroupAttributes", {**g, "groupAttributes": {"k": "v" * 1025}}),
            ("setGroupAttributes", {**g, "groupAttributes": {"k": 5}}),
            # 60 attributes stored + 41 new ones would make 101
            ("setGroupAttributes", {**g, "groupAttributes": {f"new{i}": "v" for i in range(41)}}),
            ("deleteGroupAttributes", {**g, "keys": []}),
            ("deleteGroupAttributes", {**g, "keys": "k1"}),
            ("deleteGroupAttributes", {**g, "keys": [""]}),
            ("deleteGroupAttributes", {**g, "keys": [f"k{i}" for i in range(101)]}),
            ("queryGroupInfo", {"groupID": 5}),
            ("queryGroupMemberList", {**g, "config": {"count": 0}}),
            ("queryGroupMemberList", {**g, "config": {"count": 101}}),
            ("queryGroupMemberList", {**g, "config": {"count": "5"}}),
            ("queryGroupMemberList", {**g, "config": {"count": 5, "nextFlag": -1}}),
            ("queryGroupMemberList", {**g, "config": "all"}),
            ("sendMessage", {"toConversationID": "safe", "conversationType": 2}),
            ("sendMessage", {"toConversationID": "safe", "conversationType": 2, "message": {"type": 0, "message": "x"}}),
            ("sendMessage", {"toConversationID": "safe", "conversationType": 2, "message": {"type": 1, "message": 5}}),
            ("sendMessage", {"toConversationID": "safe", "conversationType": "2", "message": {"type": 1, "message": "x"}}),
        ]
        for op, fields in bad:
            try:
                await fails(1003, a1.request(op, **fields))
            except AssertionError as exc:
                raise AssertionError(f"{op} {str(fields)[:120]}: {exc}") from None
        await fails(6002, send_group(a2, "safe", "x" * (32 * 1024 + 1)))

        # nothing changed, nobody heard anything
        assert await group_info(b1, "safe") == info_before
        assert await members(b2, "safe") == members_before
        assert [(await d.request("queryGroupList"))["groupList"] for d in (a1, b1)] == lists_before
        await fails(4001, a1.request("queryGroupInfo", groupID="new1"))
        for events in await quiet(sync, everyone):
            assert events == []
        assert await history(b1, "safe") == []

        # the connection and the other member work as before
        message = await send_group(b1, "safe", "still here")
        assert message["messageSeq"] == 1
        for device in (a1, a2, b2):
            await received(device, message["messageID"])
        await a2.request("setGroupAttributes", groupID="safe", groupAttributes={f"new{i}": "v" for i in range(40)})
        assert len((await group_info(b1, "safe"))["groupAttributes"]) == 100
        assert (await create(a1, "new1", "New", []))["groupInfo"]["groupID"] == "new1"


async def test_a_group_holds_at_most_the_configured_members(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi", max_group_members=3)
    with trio.fail_after(20):
        (a1,) = await devices(login, server, "alice", 1)
        (d1,) = await devices(login, server, "dave", 1)
        await fails(1003, create(a1, "big", "Big", ["bob", "carol", "dave"]))
        assert (await a1.request("queryGroupList"))["groupList"] == []
        await create(a1, "crew", "Crew", ["bob"])
        await fails(1003, a1.request("inviteUsersIntoGroup", groupID="crew", userIDs=["carol", "dave"]))
        assert await members(a1, "crew") == {"alice": OWNER, "bob": MEMBER}
        await a1.request("inviteUsersIntoGroup", groupID="crew", userIDs=["carol"])
        await fails(1003, d1.request("joinGroup", groupID="crew"))
        assert await members(a1, "crew") == {"alice": OWNER, "bob": MEMBER, "carol": MEMBER}


async def test_the_reply_to_a_group_message_comes_after_the_senders_account_holds_it(start_server: StartServer, login: Login) -> None:
    """A deletion of every message by the sender's other device, under way as the message is stored, reaches the
    sending device before the reply: what the device then holds (the message) is what the server holds."""
    server = await start_server("multi")
    owner = node_owning(server, account_address("alice"))
    with trio.fail_after(60):
        a1, a2 = await devices(login, server, "alice", 2)
        (bob,) = await devices(login, server, "bob", 1)
        await create(a1, "order", "Order", ["bob"])
        await send_group(a1, "order", "first")
        for device in (a2, bob):
            await until(device, lambda e: e["ev"] == "groupMessageReceived")
        await take_all(a1)
        held = StoreGate(owner.store, "commit")  # alice's deletion, once it is being stored
        async with trio.open_nursery() as nursery:
            config = {"isAlsoDeleteServerMessage": True}
            nursery.start_soon(lambda: a2.request("deleteAllConversationMessages", config=config))
            await held.entered.wait()
            sending = trio.Event()
            sent: dict[str, Any] = {}

            async def send() -> None:
                sending.set()
                sent.update(await send_group(a1, "order", "second"))
                # the deletion's event came first: a1 holds "second", as the server does
                sent["deleted_before"] = bool(a1.pending_events("messageDeleted"))

            nursery.start_soon(send)
            await sending.wait()
            await until(bob, lambda e: e["ev"] == "groupMessageReceived")  # stored and delivered to bob
            held.release.set()
        assert sent["deleted_before"], a1.pending_events()
        assert [m["messageID"] for m in await history(a1, "order")] == [sent["messageID"]]


async def test_a_group_message_stored_is_answered_ok_when_the_senders_account_cannot_take_it_at_once(
    start_server: StartServer, login: Login, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply's wait for the sender's account is for order only: a store that fails that read still answers ok, says so, and delivers."""
    server = await start_server("multi")
    owner = node_owning(server, account_address("alice"))
    with trio.fail_after(60):
        a1, a2 = await devices(login, server, "alice", 2)
        await create(a1, "down", "Down", ["bob"])

        async def unreachable(user_id: str) -> list[Any]:
            raise StorageUnavailable("the store cannot be reached")

        monkeypatch.setattr(owner.store, "pending_deliveries", unreachable)
        sent = await send_group(a1, "down", "stored")
        event = await until(a2, lambda e: e["ev"] == "groupMessageReceived")
        assert event[-1]["messageList"][0]["messageID"] == sent["messageID"]
        assert "group=down answered before account=alice took what it queued: " in caplog.text


async def test_each_members_delivery_is_handed_to_the_store_as_a_write_it_may_apply_in_bulk(start_server: StartServer, login: Login) -> None:
    """What a member's account commits for a group message is the delivery-shaped write the writer applies with its neighbours."""
    server = await start_server("multi")
    with trio.fail_after(30):
        alice, alices_other = await login(server, "alice", device="A"), await login(server, "alice", device="B")
        members = [f"m{i}" for i in range(6)]
        clients = [await login(server, member) for member in members]
        await create(alice, "bulk1", "bulk", members)
        for client in [alices_other, *clients]:
            await client.next_event("groupStateChanged")
        handed: list[tuple[str, bool]] = []  # (user, applied in bulk if it meets others) of every delivery write
        for node in nodes_of(server):
            original = node.store.commit

            async def commit(change: AccountWrite, *, fence: Fence | None = None, original: Any = original) -> list[int]:
                if change.delivered is not None:
                    handed.append((change.user_id, isinstance(write_of(change), Bulk)))
                ids: list[int] = await original(change, fence=fence)
                return ids

            node.store.commit = commit  # type: ignore[method-assign]
        message = await send_group(alice, "bulk1")
        for client in [alices_other, *clients]:
            await received(client, message["messageID"])
        assert sorted(handed) == sorted([(user, True) for user in ["alice", *members]])
