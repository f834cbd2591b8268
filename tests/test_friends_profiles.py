"""Friends and user profiles over real WebSockets with multi-device accounts (PROTOCOL.md §4, §8, §12).

A friend operation reaches the other user's devices and the actor's own
other devices as durable events; a profile change reaches the user's own
other devices (and, being durable, a device that was offline, on resume).
The acting device has the reply instead of an event.

"Nothing else arrived" is checked with a marker: a helper user sends a
peer message with fresh text to the watched users; durable events of one
account reach each device in order, so the events a device took before the
marker are all it got up to then.
"""

from __future__ import annotations

import itertools
from typing import Any

import trio

from hubbub_client import Client

from .conftest import Login, StartServer
from .messaging_support import devices, fails, until

SYNC = "zz-sync"
_tokens = itertools.count(1)
ADDED, DELETED = 0, 1
WAITING, ACCEPTED, REJECTED = 0, 1, 2


def _names(events: list[dict[str, Any]]) -> list[str]:
    return [e["ev"] for e in events]


async def quiet(sync: Client, watched: dict[str, list[Client]]) -> list[list[dict[str, Any]]]:
    """Per watched device (in order), the events it took before a marker sent now."""
    text = f"marker-{next(_tokens)}"
    for user in watched:
        await sync.request("sendMessage", toConversationID=user, conversationType=0, message={"type": 1, "message": text})
    taken = []
    for clients in watched.values():
        for client in clients:
            events = await until(
                client, lambda e: e.get("ev") == "peerMessageReceived" and e["messageList"][0]["message"] == text
            )
            taken.append(events[:-1])
            # the marker's own conversation events, committed with it
            await client.next_event("conversationChanged")
            await client.next_event("conversationTotalUnreadMessageCountUpdated")
    return taken


async def friends(client: Client) -> list[str]:
    return [f["userID"] for f in (await client.request("queryFriendList"))["friendList"]]


async def applications(client: Client) -> list[tuple[str, str, str, int]]:
    found = (await client.request("queryFriendApplicationList"))["applicationList"]
    return sorted((a["applyUser"]["userID"], a["toUser"]["userID"], a["wording"], a["state"]) for a in found)


async def profile(client: Client, user_id: str) -> dict[str, Any]:
    [found] = (await client.request("queryUsersInfo", userIDs=[user_id]))["userList"]
    info: dict[str, Any] = found
    return info


async def befriend(x: Client, x_id: str, y: Client, y_id: str) -> None:
    await x.request("addFriend", userID=y_id)
    await y.request("acceptFriendApplication", userID=x_id)


# ---- addFriend / acceptFriendApplication ------------------------------------------


async def test_add_and_accept_reach_both_users_devices(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (sync,) = await devices(login, server, SYNC, 1)
        everyone = {"alice": [a1, a2], "bob": [b1, b2]}

        reply = await a1.request("addFriend", userID="bob", wording="hi bob")
        application = reply["application"]
        assert application["applyUser"] == {"userID": "alice"}
        assert application["toUser"] == {"userID": "bob"}
        assert (application["wording"], application["state"]) == ("hi bob", WAITING)
        assert isinstance(application["updateTime"], int)
        for device in (a2, b1, b2):
            event = await device.next_event("friendApplicationListChanged")
            assert event["applicationList"] == [application]
            assert isinstance(event["seq"], int)
        for client in (a2, b1):
            assert await applications(client) == [("alice", "bob", "hi bob", WAITING)]
        for events in await quiet(sync, everyone):
            assert events == []  # one event each, none on the acting device
        assert await friends(a1) == [] and await friends(b1) == []

        # bob accepts on his second device
        accepted = await b2.request("acceptFriendApplication", userID="alice")
        assert (accepted["application"]["state"], accepted["application"]["applyUser"]) == (ACCEPTED, {"userID": "alice"})
        changed = await b1.next_event("friendApplicationListChanged")
        assert changed["applicationList"][0]["state"] == ACCEPTED
        event = await b1.next_event("friendListChanged")
        assert event["action"] == ADDED
        assert [(f["userID"], f["wording"]) for f in event["friendInfoList"]] == [("alice", "hi bob")]
        for device in (a1, a2):
            event = await device.next_event("friendListChanged")
            assert event["action"] == ADDED
            assert [f["userID"] for f in event["friendInfoList"]] == ["bob"]
            assert isinstance(event["seq"], int)
        assert await friends(a1) == ["bob"] and await friends(a2) == ["bob"]
        assert await friends(b1) == ["alice"] and await friends(b2) == ["alice"]
        assert await applications(b1) == [("alice", "bob", "hi bob", ACCEPTED)]

        for device in (a1, a2):
            event = await device.next_event("friendApplicationListChanged")
            assert [(a["applyUser"], a["state"]) for a in event["applicationList"]] == [({"userID": "alice"}, ACCEPTED)]
        for events in await quiet(sync, everyone):
            assert events == []  # b2 acted: it had the reply and no event

        # an existing friend: 4004, either way round; an answer with no application: 1003
        await fails(4004, a2.request("addFriend", userID="bob"))
        await fails(4004, b1.request("addFriend", userID="alice", wording="again"))
        await fails(1003, b1.request("acceptFriendApplication", userID="alice"))
        await fails(1003, a1.request("acceptFriendApplication", userID="bob"))
        await fails(1003, a1.request("rejectFriendApplication", userID="bob"))
        await fails(1003, a1.request("acceptFriendApplication", userID=SYNC))
        for events in await quiet(sync, everyone):
            assert events == []
        assert await friends(a1) == ["bob"] and await friends(b1) == ["alice"]

        # befriending oneself: 1003, nothing changes
        await fails(1003, a1.request("addFriend", userID="alice"))
        assert await friends(a2) == ["bob"]
        assert await applications(a2) == [("alice", "bob", "hi bob", ACCEPTED)]


async def test_reject_tells_the_applicant_and_adds_nobody(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        c1, c2 = await devices(login, server, "carol", 2)
        (sync,) = await devices(login, server, SYNC, 1)
        await c1.request("addFriend", userID="alice", wording="me?")
        for device in (a1, a2, c2):
            await device.next_event("friendApplicationListChanged")

        rejected = await a1.request("rejectFriendApplication", userID="carol")
        assert (rejected["application"]["state"], rejected["application"]["applyUser"]) == (REJECTED, {"userID": "carol"})
        for device in (a2, c1, c2):
            event = await device.next_event("friendApplicationListChanged")
            [application] = event["applicationList"]
            assert (application["applyUser"], application["toUser"], application["state"]) == (
                {"userID": "carol"}, {"userID": "alice"}, REJECTED,
            )
        for events in await quiet(sync, {"alice": [a1, a2], "carol": [c1, c2]}):
            assert "friendListChanged" not in _names(events)
        assert await friends(a1) == [] and await friends(c2) == []
        assert await applications(c2) == [("carol", "alice", "me?", REJECTED)]
        await fails(1003, a2.request("acceptFriendApplication", userID="carol"))
        await fails(1003, a2.request("rejectFriendApplication", userID="carol"))
        assert await friends(a1) == []

        # carol may ask again, and this time alice accepts
        await c2.request("addFriend", userID="alice", wording="please")
        await a2.request("acceptFriendApplication", userID="carol")
        assert await friends(c1) == ["alice"] and await friends(a1) == ["carol"]


# ---- deleteFriends -----------------------------------------------------------------


async def test_delete_friends_on_both_sides(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (c1,) = await devices(login, server, "carol", 1)
        (sync,) = await devices(login, server, SYNC, 1)
        everyone = {"alice": [a1, a2], "bob": [b1, b2], "carol": [c1]}
        await befriend(a1, "alice", b1, "bob")
        await befriend(c1, "carol", a2, "alice")
        await quiet(sync, everyone)
        assert sorted(await friends(a1)) == ["bob", "carol"]

        reply = await a1.request("deleteFriends", userIDs=["bob", "dave"])
        assert reply["deletedUserIDs"] == ["bob"]
        assert [e["userID"] for e in reply["errorUserList"]] == ["dave"]
        event = await a2.next_event("friendListChanged")
        assert (event["action"], [f["userID"] for f in event["friendInfoList"]]) == (DELETED, ["bob"])
        assert isinstance(event["seq"], int)
        for device in (b1, b2):
            event = await device.next_event("friendListChanged")
            assert (event["action"], [f["userID"] for f in event["friendInfoList"]]) == (DELETED, ["alice"])
        [a1_events, a2_events, b1_events, b2_events, c1_events] = await quiet(sync, everyone)
        assert "friendListChanged" not in _names(a1_events + a2_events + b1_events + b2_events + c1_events)
        assert await friends(a2) == ["carol"]
        assert await friends(b2) == [] and await friends(c1) == ["alice"]

        # deleting a non-friend changes nothing; bob and alice may become friends again
        reply = await b1.request("deleteFriends", userIDs=["alice"])
        assert (reply["deletedUserIDs"], [e["userID"] for e in reply["errorUserList"]]) == ([], ["alice"])
        for events in await quiet(sync, everyone):
            assert events == []
        await befriend(b2, "bob", a1, "alice")
        assert sorted(await friends(a2)) == ["bob", "carol"] and await friends(b1) == ["alice"]


# ---- profiles ------------------------------------------------------------------------


async def test_profile_updates_reach_own_devices_live_and_on_resume(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        (b1,) = await devices(login, server, "bob", 1)
        (sync,) = await devices(login, server, SYNC, 1)
        await a3.close()
        for device in (a1, a2):
            await device.next_event("selfDevicesChanged")

        named = (await a1.request("updateUserName", userName="Alice A."))["userFullInfo"]
        assert named == {"baseInfo": {"userID": "alice", "userName": "Alice A."}, "userAvatarUrl": "", "extendedData": ""}
        event = await a2.next_event("userInfoUpdated")
        assert event["info"] == named and isinstance(event["seq"], int)

        pictured = (await a2.request("updateUserAvatarUrl", userAvatarUrl="https://example.com/a.png"))["userFullInfo"]
        assert pictured == {**named, "userAvatarUrl": "https://example.com/a.png"}
        assert (await a1.next_event("userInfoUpdated"))["info"] == pictured

        extended = (await a1.request("updateUserExtendedData", extendedData='{"mood":"happy"}'))["userFullInfo"]
        assert extended == {**pictured, "extendedData": '{"mood":"happy"}'}
        assert (await a2.next_event("userInfoUpdated"))["info"] == extended

        [a1_events, a2_events, b1_events] = await quiet(sync, {"alice": [a1, a2], "bob": [b1]})
        assert "userInfoUpdated" not in _names(a1_events + a2_events + b1_events)

        # everyone reads the profile; unknown users are left out
        found = (await b1.request("queryUsersInfo", userIDs=["alice", "nobody", "bob"]))["userList"]
        assert sorted((u["baseInfo"]["userID"], u["baseInfo"]["userName"]) for u in found) == [("alice", "Alice A."), ("bob", "")]
        assert await profile(b1, "alice") == extended
        assert await profile(a2, "alice") == extended

        # the device that was offline gets all three on resume, in order
        reply = await a3.reconnect(close_first=False)
        assert reply["resumeGap"] is False
        replayed = await until(a3, lambda e: e.get("ev") == "userInfoUpdated" and e["info"] == extended)
        updates = [e for e in replayed if e["ev"] == "userInfoUpdated"]
        assert [e["info"] for e in updates] == [named, pictured, extended]
        assert [e["seq"] for e in updates] == sorted(e["seq"] for e in updates)
        # a new login keeps the name
        assert await profile(a3, "alice") == extended


# ---- bad input -------------------------------------------------------------------------


async def test_bad_profile_and_friend_requests_get_1003_and_change_nothing(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (c1,) = await devices(login, server, "carol", 1)
        (sync,) = await devices(login, server, SYNC, 1)
        everyone = {"alice": [a1, a2], "bob": [b1, b2], "carol": [c1]}
        await a1.request("updateUserName", userName="Alice")
        await befriend(a1, "alice", b1, "bob")
        await c1.request("addFriend", userID="alice", wording="waiting")
        await quiet(sync, everyone)
        before = {
            "profile": await profile(b1, "alice"),
            "friends": (await friends(a1), await friends(b1), await friends(c1)),
            "applications": (await applications(a1), await applications(c1)),
        }

        ids101 = [f"u{i}" for i in range(101)]
        bad: list[tuple[str, dict[str, Any]]] = [
            ("updateUserName", {}),
            ("updateUserName", {"userName": 5}),
            ("updateUserName", {"userName": None}),
            ("updateUserName", {"userName": "n" * 257}),
            ("updateUserAvatarUrl", {}),
            ("updateUserAvatarUrl", {"userAvatarUrl": "u" * 2049}),
            ("updateUserAvatarUrl", {"userAvatarUrl": b"bytes"}),
            ("updateUserExtendedData", {"extendedData": "x" * 4097}),
            ("updateUserExtendedData", {"extendedData": {"mood": 1}}),
            ("queryUsersInfo", {}),
            ("queryUsersInfo", {"userIDs": []}),
            ("queryUsersInfo", {"userIDs": "bob"}),
            ("queryUsersInfo", {"userIDs": ["bad id"]}),
            ("queryUsersInfo", {"userIDs": ids101}),
            ("addFriend", {}),
            ("addFriend", {"userID": 5}),
            ("addFriend", {"userID": "bad id"}),
            ("addFriend", {"userID": "u" * 129}),
            ("addFriend", {"userID": "dave", "wording": "w" * 513}),
            ("addFriend", {"userID": "dave", "wording": 5}),
            ("addFriend", {"userID": "alice"}),  # oneself
            ("acceptFriendApplication", {}),
            ("acceptFriendApplication", {"userID": ["carol"]}),
            ("acceptFriendApplication", {"userID": "dave"}),  # no application
            ("rejectFriendApplication", {"userID": None}),
            ("rejectFriendApplication", {"userID": "dave"}),  # no application
            ("deleteFriends", {}),
            ("deleteFriends", {"userIDs": []}),
            ("deleteFriends", {"userIDs": "bob"}),
            ("deleteFriends", {"userIDs": [5]}),
            ("deleteFriends", {"userIDs": ids101}),
        ]
        for op, fields in bad:
            try:
                await fails(1003, a1.request(op, **fields))
            except AssertionError as exc:
                raise AssertionError(f"{op} {str(fields)[:120]}: {exc}") from None

        after = {
            "profile": await profile(b1, "alice"),
            "friends": (await friends(a1), await friends(b1), await friends(c1)),
            "applications": (await applications(a1), await applications(c1)),
        }
        assert after == before
        for events in await quiet(sync, everyone):
            assert events == []

        # the connection and the other users work as before
        await b2.request("updateUserName", userName="Bob")
        assert (await b1.next_event("userInfoUpdated"))["info"]["baseInfo"] == {"userID": "bob", "userName": "Bob"}
        await a2.request("acceptFriendApplication", userID="carol")
        assert sorted(await friends(a1)) == ["bob", "carol"]
        assert (await c1.next_event("friendListChanged"))["action"] == ADDED
