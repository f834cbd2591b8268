"""Threads over real WebSockets with multi-device accounts (PROTOCOL.md §15).

Every thread op follows the sync rule: the acting user's other devices get
its event with `fromUserID`, the other members' devices get theirs, and an
offline device gets every thread event on resume, in order. Thread
messages are a conversation of type 3 (conversationID = threadID) with
their own messageSeq, counted in unread, with history, receipts, revoke
and deletions as any conversation.
"""

from __future__ import annotations

from typing import Any

import trio

from hubbub_client import Client

from gateway.services import account_address

from .cluster_servers import node_owning
from .conftest import Login, StartServer
from .messaging_support import RecordingClient, assert_consecutive, devices, durable, fails, history, send, until
from .store_gate import StoreGate


async def _event(client: Client, name: str, **fields: Any) -> dict[str, Any]:
    """The next `name` event whose fields include `fields` (events before it are passed over)."""

    def matches(e: dict[str, Any]) -> bool:
        return e.get("ev") == name and all(e.get(k) == v for k, v in fields.items())

    return (await until(client, matches))[-1]


async def _group_message(owner: Client, group_id: str, members: list[str], watchers: list[Client]) -> str:
    """Create a group with `members`, send one group message; its messageID (every watcher has seen both)."""
    await owner.request("createGroup", groupInfo={"groupID": group_id, "groupName": group_id}, userIDs=members)
    reply = await owner.request("sendMessage", toConversationID=group_id, conversationType=2, message={"type": 1, "message": "parent"})
    for device in watchers:
        await _event(device, "groupMessageReceived")
    message_id: str = reply["message"]["messageID"]
    return message_id


async def _thread_send(client: Client, thread_id: str, text: str, **config: Any) -> dict[str, Any]:
    reply = await client.request(
        "sendMessage", toConversationID=thread_id, conversationType=3, message={"type": 1, "message": text}, config=config
    )
    message: dict[str, Any] = reply["message"]
    return message


async def test_every_thread_op_syncs_to_own_devices_and_reaches_members(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(60):
        a1, a2 = await devices(login, server, "alice", 2)  # group Owner
        b1, b2 = await devices(login, server, "bob", 2)  # Member, the thread's owner
        c1, c2 = await devices(login, server, "carol", 2)  # Member
        (dave,) = await devices(login, server, "dave", 1)  # not in the group
        parent = await _group_message(a1, "g-th", ["bob", "carol"], [a2, b1, b2, c1, c2])

        # createThread: every group member's devices, the creator's other device with fromUserID
        created = (await b1.request("createThread", groupID="g-th", parentMessageID=parent, threadName="plans"))["thread"]
        tid = created["threadID"]
        assert (created["groupID"], created["parentMessageID"], created["threadName"], created["ownerUserID"]) == (
            "g-th", parent, "plans", "bob",
        )
        assert created["memberCount"] == 1 and created["lastMessage"] is None
        for device, from_user in ((b2, "bob"), (a1, None), (a2, None), (c1, None), (c2, None)):
            event = await _event(device, "threadChanged", event="create")
            assert event["thread"]["threadID"] == tid and event.get("fromUserID") == from_user and "seq" in event
        await fails(4004, a1.request("createThread", groupID="g-th", parentMessageID=parent, threadName="again"))
        await fails(4002, dave.request("createThread", groupID="g-th", parentMessageID=parent, threadName="outsider"))
        await fails(6001, a1.request("createThread", groupID="g-th", parentMessageID="m-nowhere", threadName="none"))
        await fails(4001, a1.request("createThread", groupID="g-nowhere", parentMessageID=parent, threadName="none"))

        # joinThread: own other devices threadChanged join, the thread's members threadMemberChanged
        joined = (await c1.request("joinThread", threadID=tid))["thread"]
        assert joined["memberCount"] == 2
        event = await _event(c2, "threadChanged", event="join")
        assert event["thread"]["threadID"] == tid and event["fromUserID"] == "carol"
        for device in (b1, b2):
            event = await _event(device, "threadMemberChanged", event="join")
            assert (event["threadID"], event["userIDs"]) == (tid, ["carol"]) and "fromUserID" not in event
        await fails(4004, c2.request("joinThread", threadID=tid))
        await fails(4002, dave.request("joinThread", threadID=tid))
        await fails(7001, c1.request("joinThread", threadID="t-nowhere"))

        # a thread message: the thread's members only; the sender's other device with direction 0
        sent = await _thread_send(c1, tid, "first")
        assert (sent["conversationID"], sent["conversationType"], sent["messageSeq"], sent["direction"]) == (tid, 3, 1, 0)
        mine = await _event(c2, "threadMessageReceived")
        assert mine["fromConversationID"] == tid and mine["messageList"][0]["direction"] == 0
        for device in (b1, b2):
            got = await _event(device, "threadMessageReceived")
            message = got["messageList"][0]
            assert (message["messageID"], message["messageSeq"], message["direction"]) == (sent["messageID"], 1, 1)
        await fails(7002, _thread_send(a1, tid, "not in it"))
        await fails(4002, _thread_send(dave, tid, "outsider"))
        await fails(7001, _thread_send(a1, "t-nowhere", "none"))

        # updateThreadName: the thread's owner or the group's Admin/Owner
        await fails(4003, c1.request("updateThreadName", threadID=tid, threadName="mine now"))
        renamed = (await a1.request("updateThreadName", threadID=tid, threadName="roadmap"))["thread"]
        assert renamed["threadName"] == "roadmap" and renamed["lastMessage"]["messageID"] == sent["messageID"]
        assert (await _event(a2, "threadChanged", event="nameUpdate"))["fromUserID"] == "alice"
        for device in (b1, b2, c1, c2):
            event = await _event(device, "threadChanged", event="nameUpdate")
            assert event["thread"]["threadName"] == "roadmap" and "fromUserID" not in event

        # queries: group members
        listed = await c1.request("queryThreadList", groupID="g-th", config={"count": 10})
        assert [t["threadID"] for t in listed["threadList"]] == [tid] and listed["nextFlag"] == 0
        assert (await a1.request("queryThreadInfo", threadID=tid))["thread"]["memberCount"] == 2
        members = await a1.request("queryThreadMemberList", threadID=tid, config={"count": 1})
        assert (members["userIDs"], members["nextFlag"]) == (["bob"], 1)
        rest = await a1.request("queryThreadMemberList", threadID=tid, config={"count": 1, "nextFlag": 1})
        assert (rest["userIDs"], rest["nextFlag"]) == (["carol"], 0)
        assert [t["threadID"] for t in (await c2.request("queryJoinedThreadList"))["threadList"]] == [tid]
        assert (await a1.request("queryJoinedThreadList"))["threadList"] == []
        await fails(4002, dave.request("queryThreadList", groupID="g-th"))
        await fails(4002, dave.request("queryThreadInfo", threadID=tid))
        await fails(4002, dave.request("queryThreadMemberList", threadID=tid))
        await fails(7001, a1.request("queryThreadInfo", threadID="t-nowhere"))

        # kickThreadMembers: the group's Admin/Owner only
        await fails(4003, b1.request("kickThreadMembers", threadID=tid, userIDs=["carol"]))
        await fails(7002, a1.request("kickThreadMembers", threadID=tid, userIDs=["dave"]))
        kicked = (await a1.request("kickThreadMembers", threadID=tid, userIDs=["carol"]))["thread"]
        assert kicked["memberCount"] == 1
        for device in (c1, c2):
            assert (await _event(device, "threadChanged", event="kick"))["thread"]["threadID"] == tid
        for device, from_user in ((a2, "alice"), (b1, None), (b2, None)):
            event = await _event(device, "threadMemberChanged", event="kick")
            assert event["userIDs"] == ["carol"] and event.get("fromUserID") == from_user
        await fails(7002, _thread_send(c1, tid, "kicked"))
        await fails(7002, c1.request("leaveThread", threadID=tid))

        # leaveThread, then destroyThread by the owner: every group member's devices
        await c1.request("joinThread", threadID=tid)
        for device in (b1, b2):
            await _event(device, "threadMemberChanged", event="join")
        await c1.request("leaveThread", threadID=tid)
        assert (await _event(c2, "threadChanged", event="leave"))["fromUserID"] == "carol"
        for device in (b1, b2):
            assert (await _event(device, "threadMemberChanged", event="leave"))["userIDs"] == ["carol"]
        await fails(4003, c1.request("destroyThread", threadID=tid))
        await b2.request("destroyThread", threadID=tid)
        for device, from_user in ((b1, "bob"), (a1, None), (a2, None), (c1, None), (c2, None)):
            event = await _event(device, "threadChanged", event="destroy")
            assert event["thread"]["threadID"] == tid and event.get("fromUserID") == from_user
        await fails(7001, a1.request("queryThreadInfo", threadID=tid))
        await fails(7001, _thread_send(b1, tid, "gone"))
        # the parent message may have a thread again once its thread is gone
        again = await a1.request("createThread", groupID="g-th", parentMessageID=parent, threadName="again")
        assert again["thread"]["threadID"] != tid


async def test_thread_messages_are_a_conversation_with_history_unread_receipts_revoke_and_deletes(
    start_server: StartServer, login: Login
) -> None:
    server = await start_server("multi")
    with trio.fail_after(60):
        a1, a2 = await devices(login, server, "alice", 2)
        (bob,) = await devices(login, server, "bob", 1)
        parent = await _group_message(a1, "g-conv", ["bob"], [a2, bob])
        tid = (await a1.request("createThread", groupID="g-conv", parentMessageID=parent, threadName="t"))["thread"]["threadID"]
        await bob.request("joinThread", threadID=tid)
        for device in (a1, a2):
            await _event(device, "threadMemberChanged", event="join")

        sent = [await _thread_send(bob, tid, f"m{i}", hasReceipt=i == 2) for i in range(3)]
        assert [m["messageSeq"] for m in sent] == [1, 2, 3]
        for device in (a1, a2):
            events = await until(device, lambda e: e.get("totalUnreadMessageCount") == 3)
            assert [m["messageSeq"] for e in events if e.get("ev") == "threadMessageReceived" for m in e["messageList"]] == [1, 2, 3]
        conversation = (await a2.request("queryConversation", conversationID=tid, conversationType=3))["conversation"]
        assert (conversation["conversationType"], conversation["unreadMessageCount"]) == (3, 3)
        assert [m["message"] for m in await history(a1, tid, 3)] == ["m2", "m1", "m0"]
        assert [m["messageSeq"] for m in await history(bob, tid, 3, reverse=True)] == [1, 2, 3]

        # receipts: the reader's other device (isSelfOperated) and the sender's
        infos = (await a1.request("sendMessageReceiptsRead", conversationID=tid, conversationType=3, messageIDs=[sent[2]["messageID"]]))["infos"]
        assert (infos[0]["conversationType"], infos[0]["status"], infos[0]["readMemberCount"]) == (3, 2, 1)
        assert (await _event(a2, "messageReceiptChanged"))["infos"][0]["isSelfOperated"] is True
        changed = (await _event(bob, "messageReceiptChanged"))["infos"][0]
        assert (changed["messageID"], changed["status"], changed["isSelfOperated"]) == (sent[2]["messageID"], 2, False)
        queried = await bob.request("queryMessageReceiptsInfo", conversationID=tid, conversationType=3, messageIDs=[sent[2]["messageID"]])
        assert queried["infos"][0]["readMemberCount"] == 1

        # revoke reaches every member's devices
        await bob.request("revokeMessage", conversationID=tid, conversationType=3, messageID=sent[0]["messageID"])
        for device in (a1, a2):
            revoked = (await _event(device, "messageRevokeReceived"))["messageList"][0]
            assert (revoked["messageID"], revoked["isRevoked"], revoked["conversationType"]) == (sent[0]["messageID"], True, 3)

        # conversation ops: clear unread, delete a message, pin, on the other device too
        await a1.request("clearConversationUnreadMessageCount", conversationID=tid, conversationType=3)
        event = await _event(a2, "conversationTotalUnreadMessageCountUpdated")
        assert event["totalUnreadMessageCount"] == 0 and event["fromUserID"] == "alice"
        await a1.request(
            "deleteMessages", conversationID=tid, conversationType=3, messageIDs=[sent[1]["messageID"]],
            config={"isAlsoDeleteServerMessage": True},
        )
        deleted = await _event(a2, "messageDeleted")
        assert (deleted["conversationType"], [m["messageID"] for m in deleted["messageList"]]) == (3, [sent[1]["messageID"]])
        assert [m["message"] for m in await history(a2, tid, 3)] == ["m2", "m0"]
        await a2.request("updateConversationPinnedState", conversationID=tid, conversationType=3, isPinned=True)
        pinned = await _event(a1, "conversationChanged")
        assert pinned["infoList"][0]["conversation"]["isPinned"] is True
        listed = (await a1.request("queryConversationList", config={"count": 10}))["conversationList"]
        assert (listed[0]["conversationID"], listed[0]["conversationType"]) == (tid, 3)


async def test_an_offline_device_gets_every_thread_event_on_resume_in_order(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(60):
        (alice,) = await devices(login, server, "alice", 1)
        b1, b2 = await devices(login, server, "bob", 2)
        parent = await _group_message(alice, "g-resume", ["bob"], [b1, b2])
        await b2.close()
        await b1.next_event("selfDevicesChanged")

        tid = (await b1.request("createThread", groupID="g-resume", parentMessageID=parent, threadName="t1"))["thread"]["threadID"]
        await _thread_send(b1, tid, "own")
        await alice.request("joinThread", threadID=tid)
        await _thread_send(alice, tid, "theirs")
        await b1.request("updateThreadName", threadID=tid, threadName="t2")
        await alice.request("leaveThread", threadID=tid)
        await alice.request("destroyThread", threadID=tid)
        await _event(b1, "threadChanged", event="destroy")

        await b2.reconnect()
        wanted = {"threadChanged", "threadMemberChanged", "threadMessageReceived"}
        taken = await until(b2, lambda e: e.get("ev") == "threadChanged" and e["event"] == "destroy")
        assert_consecutive(durable(taken))
        replayed = [e for e in taken if e.get("ev") in wanted]
        assert [(e["ev"], e.get("event")) for e in replayed] == [
            ("threadChanged", "create"), ("threadMessageReceived", None), ("threadMemberChanged", "join"),
            ("threadMessageReceived", None), ("threadChanged", "nameUpdate"), ("threadMemberChanged", "leave"),
            ("threadChanged", "destroy"),
        ]
        assert [e.get("fromUserID") for e in replayed] == ["bob", "bob", None, None, "bob", None, None]
        assert [m["direction"] for e in replayed if e["ev"] == "threadMessageReceived" for m in e["messageList"]] == [0, 1]


async def test_a_member_leaving_or_kicked_from_the_group_leaves_its_threads_and_a_dismissed_group_destroys_them(
    start_server: StartServer, login: Login
) -> None:
    server = await start_server("multi")
    with trio.fail_after(60):
        alice, a2 = await devices(login, server, "alice", 2)  # Owner
        b1, b2 = await devices(login, server, "bob", 2)
        (carol,) = await devices(login, server, "carol", 1)
        parent = await _group_message(alice, "g-out", ["bob", "carol"], [a2, b1, b2, carol])
        tid = (await alice.request("createThread", groupID="g-out", parentMessageID=parent, threadName="t"))["thread"]["threadID"]
        for device in (b1, b2, carol):
            await _event(device, "threadChanged", event="create")
        for device in (b1, carol):
            await device.request("joinThread", threadID=tid)
            await _event(alice, "threadMemberChanged", event="join")

        await alice.request("kickGroupMembers", groupID="g-out", userIDs=["bob"])
        for device in (b1, b2):
            assert (await _event(device, "threadChanged", event="kick"))["thread"]["memberCount"] == 2
        event = await _event(carol, "threadMemberChanged", event="kick")
        assert event["userIDs"] == ["bob"]
        await fails(4002, _thread_send(b1, tid, "still here?"))
        last = await _thread_send(carol, tid, "after the kick")
        assert (await _event(alice, "threadMessageReceived"))["messageList"][0]["messageID"] == last["messageID"]
        # bob's devices got nothing of it: a later event of bob's own comes first
        await b1.request("updateUserName", userName="Bob")
        for device in (b2,):
            events = await until(device, lambda e: e.get("ev") == "userInfoUpdated")
            assert not [e for e in events if e.get("ev") == "threadMessageReceived"]
        assert (await b1.request("queryJoinedThreadList"))["threadList"] == []

        await carol.request("leaveGroup", groupID="g-out")
        assert (await _event(alice, "threadMemberChanged", event="leave"))["userIDs"] == ["carol"]
        assert [t["memberCount"] for t in (await alice.request("queryThreadList", groupID="g-out"))["threadList"]] == [1]

        await alice.request("dismissGroup", groupID="g-out")
        # the thread's members hear it go (here its owner's other device, with fromUserID)
        event = await _event(a2, "threadChanged", event="destroy")
        assert event["thread"]["threadID"] == tid and event["fromUserID"] == "alice"
        await fails(7001, alice.request("queryThreadInfo", threadID=tid))
        assert (await alice.request("queryJoinedThreadList"))["threadList"] == []


async def test_a_group_holds_at_most_the_configured_live_threads(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi", max_group_threads=2)
    with trio.fail_after(30):
        (alice,) = await devices(login, server, "alice", 1)
        await alice.request("createGroup", groupInfo={"groupID": "g-cap", "groupName": "g"}, userIDs=[])
        parents = []
        for n in range(3):
            reply = await alice.request("sendMessage", toConversationID="g-cap", conversationType=2, message={"type": 1, "message": f"p{n}"})
            parents.append(reply["message"]["messageID"])
        made = [(await alice.request("createThread", groupID="g-cap", parentMessageID=p, threadName="t"))["thread"] for p in parents[:2]]
        await fails(1003, alice.request("createThread", groupID="g-cap", parentMessageID=parents[2], threadName="t"))
        listed = await alice.request("queryThreadList", groupID="g-cap")
        assert [t["threadID"] for t in listed["threadList"]] == [t["threadID"] for t in made]
        await alice.request("destroyThread", threadID=made[0]["threadID"])
        last = (await alice.request("createThread", groupID="g-cap", parentMessageID=parents[2], threadName="t"))["thread"]
        # the last member leaving ends the group, and its threads with it
        await alice.request("leaveGroup", groupID="g-cap")
        for thread in (made[1], last):
            await fails(7001, alice.request("queryThreadInfo", threadID=thread["threadID"]))
        assert (await alice.request("queryJoinedThreadList"))["threadList"] == []


async def test_a_revoke_reaches_whoever_holds_the_message_after_leaving_the_thread_or_its_destruction(
    start_server: StartServer, login: Login
) -> None:
    """The parties of a thread message are those who hold it: a member who left keeps it, and a destroyed thread's members too."""
    server = await start_server("multi")
    with trio.fail_after(60):
        (alice,) = await devices(login, server, "alice", 1)  # group Owner
        (bob,) = await devices(login, server, "bob", 1)  # the sender
        c1, c2 = await devices(login, server, "carol", 2)
        parent = await _group_message(alice, "g-rev", ["bob", "carol"], [bob, c1, c2])
        tid = (await bob.request("createThread", groupID="g-rev", parentMessageID=parent, threadName="t"))["thread"]["threadID"]
        for client in (alice, c1):
            await client.request("joinThread", threadID=tid)
        sent = [await _thread_send(bob, tid, f"m{i}") for i in range(2)]
        for device in (alice, c1, c2):
            await until(device, lambda e: e.get("ev") == "threadMessageReceived" and e["messageList"][0]["messageID"] == sent[1]["messageID"])

        await c1.request("leaveThread", threadID=tid)
        await _event(c2, "threadChanged", event="leave")
        await bob.request("revokeMessage", conversationID=tid, conversationType=3, messageID=sent[0]["messageID"])
        for device in (alice, c1, c2):
            revoked = (await _event(device, "messageRevokeReceived"))["messageList"][0]
            assert (revoked["messageID"], revoked["isRevoked"]) == (sent[0]["messageID"], True)

        await alice.request("destroyThread", threadID=tid)
        for device in (bob, c1, c2):
            await _event(device, "threadChanged", event="destroy")
        await bob.request("revokeMessage", conversationID=tid, conversationType=3, messageID=sent[1]["messageID"])
        for device in (alice, c1, c2):
            revoked = (await _event(device, "messageRevokeReceived"))["messageList"][0]
            assert (revoked["messageID"], revoked["isRevoked"]) == (sent[1]["messageID"], True)
            assert [m["isRevoked"] for m in await history(device, tid, 3)] == [True, True]


async def test_a_thread_ops_reply_keeps_its_place_among_the_acting_accounts_events(start_server: StartServer, login: Login) -> None:
    """One device joins, the other leaves, while their account is busy: each reply waits for the account to take what the
    group queued for it, so the leaving device has the join's threadChanged before its reply; and the account takes the
    leave with the join's events, yet the joining device has its reply before the leave's threadChanged. Both devices
    end outside, as the server."""
    server = await start_server("multi")
    owner = node_owning(server, account_address("alice"))
    with trio.fail_after(60):
        a1, a2, a3 = await devices(login, server, "alice", 3, client_type=RecordingClient)
        (bob,) = await devices(login, server, "bob", 1)
        parent = await _group_message(a1, "g-order", ["bob"], [a2, a3, bob])
        tid = (await bob.request("createThread", groupID="g-order", parentMessageID=parent, threadName="t"))["thread"]["threadID"]
        for device in (a1, a2, a3):
            await _event(device, "threadChanged", event="create")
        held = StoreGate(owner.store, "commit", lambda change, **_: change.user_id == "alice")  # busy storing a3's peer message
        left: dict[str, bool] = {}
        joining: dict[str, int] = {}
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: send(a3, "bob", "busy"))
            await held.entered.wait()

            async def join() -> None:
                joining["id"] = (await a1.request("joinThread", threadID=tid))["re"]

            nursery.start_soon(join)
            await _event(bob, "threadMemberChanged", event="join")  # the group stored the join

            async def leave() -> None:
                await a2.request("leaveThread", threadID=tid)
                left["join_seen_first"] = any(e["event"] == "join" for e in a2.pending_events("threadChanged"))

            nursery.start_soon(leave)
            await _event(bob, "threadMemberChanged", event="leave")  # and then the leave
            held.release.set()
        assert left["join_seen_first"], a2.pending_events()
        await _event(a1, "threadChanged", event="leave")
        assert isinstance(a1, RecordingClient)
        order = ["reply" if f.get("re") == joining["id"] else f"{f['ev']} {f['event']}" for f in a1.log if f.get("re") == joining["id"] or f.get("ev") == "threadChanged"]
        assert order[-2:] == ["reply", "threadChanged leave"], order
        assert (await a1.request("queryJoinedThreadList", config={"count": 10}))["threadList"] == []
