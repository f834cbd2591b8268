"""Conversations and their sync across one account's devices (PROTOCOL.md §4 sync rule, §6).

Every state-changing request on one device is answered there and shows up
on the account's other devices as the event named for it; unread counts rise
only for received messages, and all devices of an account agree on them.
"""

from __future__ import annotations

from typing import Any

import trio

from actors.account import conversations as conv
from actors.store.base import ConversationRow
from hubbub_client import Client

from .conftest import Login, StartServer
from .messaging_support import (
    conversation,
    conversation_list,
    devices,
    fails,
    history,
    marker,
    message_ids,
    send,
    take_all,
    until,
)

PEER = 0


def _ids(conversations: list[dict[str, Any]]) -> list[str]:
    return [c["conversationID"] for c in conversations]


async def _delivered(client: Client, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Take `client`'s events up to the peerMessageReceived of `message`."""
    return await until(client, lambda e: message_ids([e]) == [message["messageID"]])


async def _changed(client: Client) -> dict[str, Any]:
    """The next conversationChanged's only info."""
    event = await client.next_event("conversationChanged")
    assert "seq" in event
    [info] = event["infoList"]
    return dict(info)


async def _total(client: Client) -> int:
    event = await client.next_event("conversationTotalUnreadMessageCountUpdated")
    assert "seq" in event
    count: int = event["totalUnreadMessageCount"]
    return count


async def test_first_message_either_way_creates_the_conversation(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2 = await devices(login, server, "alice", 2)
        b1, b2 = await devices(login, server, "bob", 2)
        (c1,) = await devices(login, server, "carol", 1)
        assert await conversation_list(a1) == []
        await fails(1003, conversation(a1, "bob"))

        sent = await send(a1, "bob", "first")
        mine = await conversation(a1, "bob")
        assert mine == {
            "conversationID": "bob",
            "conversationType": PEER,
            "conversationName": "",
            "unreadMessageCount": 0,
            "lastMessage": sent,
            "orderKey": sent["timestamp"],
            "isPinned": False,
            "notificationStatus": 1,
            "draft": "",
            "marks": [],
        }
        info = await _changed(a2)
        assert (info["event"], info["conversation"]) == (0, mine)
        for device in (b1, b2):
            info = await _changed(device)
            assert info["event"] == 0
            assert info["conversation"]["conversationID"] == "alice"
            assert info["conversation"]["unreadMessageCount"] == 1
            assert info["conversation"]["lastMessage"]["direction"] == 1
        assert info["conversation"] == await conversation(b1, "alice")
        assert _ids(await conversation_list(b2)) == ["alice"]

        # the other way: carol writes first
        from_carol = await send(c1, "alice", "hello from carol")
        for device in (a1, a2):
            events = await _delivered(device, from_carol)
            info = (await _changed(device))
            assert (info["event"], info["conversation"]["conversationID"], info["conversation"]["unreadMessageCount"]) == (0, "carol", 1)
            assert await _total(device) == 1
            assert [e["ev"] for e in events[-1:]] == ["peerMessageReceived"]
        assert _ids(await conversation_list(a2)) == ["carol", "bob"]
        assert _ids(await conversation_list(c1)) == ["alice"]


async def test_list_order_pins_first_then_last_message_and_pages(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2 = await devices(login, server, "alice", 2)
        peers = [f"u{n}" for n in range(7)]
        senders = {p: (await devices(login, server, p, 1))[0] for p in peers}
        for peer in peers:  # u0 oldest ... u6 newest; distinct milliseconds
            message = await send(senders[peer], "alice", f"from {peer}")
            await _delivered(a1, message)
            await trio.sleep(0.003)
        assert _ids(await conversation_list(a1)) == list(reversed(peers))

        for peer in ("u1", "u4"):
            await a1.request("updateConversationPinnedState", conversationID=peer, conversationType=PEER, isPinned=True)
        expected = ["u4", "u1", "u6", "u5", "u3", "u2", "u0"]
        full = await conversation_list(a2)
        assert _ids(full) == expected
        assert [c["isPinned"] for c in full] == [True, True, False, False, False, False, False]

        # pages of 3, each continuing after the previous page's last conversation
        pages: list[str] = []
        after: dict[str, Any] | None = None
        while True:
            config: dict[str, Any] = {} if after is None else {
                "nextConversation": {k: after[k] for k in ("conversationID", "conversationType", "orderKey", "isPinned")}
            }
            page = await conversation_list(a2, 3, **config)
            assert len(page) <= 3
            if not page:
                break
            pages += _ids(page)
            after = page[-1]
        assert pages == expected

        # a draft does not reorder; a new message moves its conversation up (below the pins)
        await a1.request("setConversationDraft", conversationID="u0", conversationType=PEER, draft="later")
        assert _ids(await conversation_list(a1)) == expected
        await trio.sleep(0.003)
        await _delivered(a1, await send(senders["u0"], "alice", "again"))
        assert _ids(await conversation_list(a2)) == ["u4", "u1", "u0", "u6", "u5", "u3", "u2"]
        # so does one we send; unpinning puts u4 back by its last message
        await trio.sleep(0.003)
        await send(a2, "u2", "to u2")
        await a1.request("updateConversationPinnedState", conversationID="u4", conversationType=PEER, isPinned=False)
        assert _ids(await conversation_list(a1)) == ["u1", "u2", "u0", "u6", "u5", "u4", "u3"]


async def test_delete_conversation_syncs_and_a_new_message_brings_it_back(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        (b1,) = await devices(login, server, "bob", 1)
        (c1,) = await devices(login, server, "carol", 1)
        first = await send(b1, "alice", "one")
        second = await send(b1, "alice", "two")
        await _delivered(a1, await send(c1, "alice", "from carol"))
        await a1.request("updateConversationPinnedState", conversationID="bob", conversationType=PEER, isPinned=True)
        await marker(a1, [a2, a3], "bob", "pinned")
        assert (await conversation(a1, "bob"))["unreadMessageCount"] == 2

        await a1.request("deleteConversation", conversationID="bob", conversationType=PEER)
        for device in (a2, a3):
            info = await _changed(device)
            assert (info["event"], info["conversation"]["conversationID"]) == (3, "bob")
            assert await _total(device) == 1
        await fails(1003, conversation(a2, "bob"))
        assert _ids(await conversation_list(a3)) == ["carol"]
        # the messages stay in history; bob's side is untouched
        assert [m["messageID"] for m in await history(a2, "bob")] == [second["messageID"], first["messageID"]]
        assert (await conversation(b1, "alice"))["lastMessage"]["messageID"] == second["messageID"]
        assert len(await history(b1, "alice")) == 2

        third = await send(b1, "alice", "three")
        for device in (a1, a2, a3):
            await _delivered(device, third)
            info = await _changed(device)
            assert info["event"] == 0  # added again
            assert info["conversation"]["unreadMessageCount"] == 1  # the deleted conversation's two were read
            assert info["conversation"]["isPinned"] is False
            assert info["conversation"]["lastMessage"]["messageSeq"] == 3
            assert await _total(device) == 2
        assert _ids(await conversation_list(a1)) == ["bob", "carol"]


async def test_delete_all_conversations(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        for peer in ("bob", "carol", "dave"):
            await send(a1, peer, f"to {peer}")
        await _delivered(a1, await send(b1, "alice", "unread"))
        await marker(a1, [a2], "bob", "x")

        reply = await a1.request("deleteAllConversations")
        assert reply["count"] == 3
        deleted = await a2.next_event("conversationsAllDeleted")
        assert deleted["count"] == 3 and "seq" in deleted
        assert await _total(a2) == 0
        assert await conversation_list(a2) == []
        assert (await a2.request("deleteAllConversations", config={"isAlsoDeleteServerConversation": True}))["count"] == 0
        assert (await a1.next_event("conversationsAllDeleted"))["count"] == 0
        assert len(await history(a1, "bob")) == 2
        assert _ids(await conversation_list(b1)) == ["alice"]


async def test_clearing_unread_one_conversation_and_total(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        (b1,) = await devices(login, server, "bob", 1)
        (c1,) = await devices(login, server, "carol", 1)
        for n in range(3):
            await send(b1, "alice", f"b{n}")
        for n in range(2):
            last = await send(c1, "alice", f"c{n}")
        # alice sends too: her own messages never count as unread
        await send(a2, "bob", "reply")
        await send(a2, "carol", "reply")
        for device in (a1, a3):
            events = await _delivered(device, last)
            totals = [e["totalUnreadMessageCount"] for e in events if e["ev"] == "conversationTotalUnreadMessageCountUpdated"]
            assert totals == [1, 2, 3, 4]
        await marker(a2, [a1, a3], "bob", "sync")
        await marker(a1, [a2, a3], "bob", "synced")
        assert [(c["conversationID"], c["unreadMessageCount"]) for c in await conversation_list(a1)] == [("carol", 2), ("bob", 3)]
        assert (await conversation(b1, "alice"))["unreadMessageCount"] == 1
        assert (await conversation(c1, "alice"))["unreadMessageCount"] == 1

        await a1.request("clearConversationUnreadMessageCount", conversationID="bob", conversationType=PEER)
        for device in (a2, a3):
            info = await _changed(device)
            assert (info["event"], info["conversation"]["conversationID"], info["conversation"]["unreadMessageCount"]) == (1, "bob", 0)
            assert await _total(device) == 2
        assert (await conversation(a2, "bob"))["unreadMessageCount"] == 0
        assert (await conversation(a2, "carol"))["unreadMessageCount"] == 2

        await a3.request("clearConversationTotalUnreadMessageCount")
        for device in (a1, a2):
            assert await _total(device) == 0
        assert [c["unreadMessageCount"] for c in await conversation_list(a1)] == [0, 0]
        # the senders' counts are their own
        assert (await conversation(c1, "alice"))["unreadMessageCount"] == 1
        # a new message counts from zero again
        newer = await send(c1, "alice", "new")
        for device in (a1, a2, a3):
            await _delivered(device, newer)
            assert (await _changed(device))["conversation"]["unreadMessageCount"] == 1
            assert await _total(device) == 1


async def test_pin_notification_status_draft_and_marks_sync(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        hi = await send(a1, "bob", "hi")
        for device in (a2, a3):
            await _delivered(device, hi)
            await _changed(device)
        peer: dict[str, Any] = {"conversationID": "bob", "conversationType": PEER}
        steps: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            ("updateConversationPinnedState", {"isPinned": True}, {"isPinned": True}),
            ("setConversationNotificationStatus", {"status": 2}, {"notificationStatus": 2}),
            ("setConversationDraft", {"draft": "unfinished"}, {"draft": "unfinished"}),
            ("updateConversationMark", {"marks": [3, 1], "isMarked": True}, {"marks": [1, 3]}),
            ("updateConversationMark", {"marks": [1, 7], "isMarked": False}, {"marks": [3]}),
            ("updateConversationPinnedState", {"isPinned": False}, {"isPinned": False}),
            ("setConversationNotificationStatus", {"status": 1}, {"notificationStatus": 1}),
        ]
        state = await conversation(a1, "bob")
        for index, (op, fields, change) in enumerate(steps):
            actor = (a1, a2, a3)[index % 3]
            await actor.request(op, **peer, **fields)
            state = {**state, **change}
            for device in (a1, a2, a3):
                if device is actor:
                    continue
                info = await _changed(device)
                assert (info["event"], info["conversation"]) == (1, state)
            assert await conversation(actor, "bob") == state
        for device in (a1, a2, a3):
            assert await take_all(device) == []
        assert (await conversation(a1, "bob"))["lastMessage"]["message"] == "hi"


async def test_deleting_messages_on_the_server_leaves_the_other_party_alone(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        b1, b2 = await devices(login, server, "bob", 2)
        (c1,) = await devices(login, server, "carol", 1)
        m1 = await send(b1, "alice", "b1")
        m2 = await send(a1, "bob", "a1")
        m3 = await send(b1, "alice", "b2")
        m4 = await send(b1, "alice", "b3")
        c = await send(c1, "alice", "c")
        await _delivered(a1, c)
        await marker(a1, [a2, a3], "bob", "start")
        await marker(b1, [b2], "alice", "start")
        assert (await conversation(a1, "bob"))["unreadMessageCount"] == 3

        # one received unread message and one sent message
        on_server = {"isAlsoDeleteServerMessage": True}
        await a1.request("deleteMessages", conversationID="bob", conversationType=PEER, messageIDs=[m1["messageID"], m2["messageID"]], config=on_server)
        alice_views = {m["messageID"]: m for m in await history(a1, "bob", reverse=True)}
        for device in (a2, a3):
            deleted = await device.next_event("messageDeleted")
            assert "seq" in deleted
            assert {k: deleted[k] for k in ("conversationID", "conversationType", "messageDeleteType", "isDeleteConversationAllMessage")} == {
                "conversationID": "bob", "conversationType": PEER, "messageDeleteType": 0, "isDeleteConversationAllMessage": False,
            }
            assert sorted(m["messageID"] for m in deleted["messageList"]) == sorted([m1["messageID"], m2["messageID"]])
            assert {m["messageID"]: m["direction"] for m in deleted["messageList"]} == {m1["messageID"]: 1, m2["messageID"]: 0}
            info = await _changed(device)
            assert (info["conversation"]["conversationID"], info["conversation"]["unreadMessageCount"]) == ("bob", 2)
            assert await _total(device) == 3
        assert list(alice_views) == [m3["messageID"], m4["messageID"]]
        assert [m["messageSeq"] for m in alice_views.values()] == [3, 4]
        assert len(await history(b2, "alice")) == 4
        await fails(6001, a2.request("deleteMessages", conversationID="bob", conversationType=PEER, messageIDs=[m1["messageID"]], config=on_server))

        # clearing what is left, then deleting a read message changes no count
        await a1.request("clearConversationUnreadMessageCount", conversationID="bob", conversationType=PEER)
        await a1.request("deleteMessages", conversationID="bob", conversationType=PEER, messageIDs=[m3["messageID"]], config=on_server)
        for device in (a2, a3):
            await _changed(device)
            assert await _total(device) == 1
            deleted = await device.next_event("messageDeleted")
            assert [m["messageID"] for m in deleted["messageList"]] == [m3["messageID"]]
        assert (await conversation(a2, "bob"))["unreadMessageCount"] == 0

        # every message of one conversation
        m5 = await send(b1, "alice", "b5")
        await _delivered(a2, m5)
        await a2.request("deleteAllMessage", conversationID="bob", conversationType=PEER, config=on_server)
        for device in (a1, a3):
            last = (await until(device, lambda e: e["ev"] == "messageDeleted"))[-1]
            assert (last["messageDeleteType"], last["conversationID"], last["isDeleteConversationAllMessage"]) == (1, "bob", True)
            assert await _total(device) == 1
        assert await history(a3, "bob") == []
        bob_now = await conversation(a3, "bob")
        assert (bob_now["unreadMessageCount"], bob_now["lastMessage"]) == (0, None)
        assert len(await history(b1, "alice")) == 5
        assert (await conversation(b1, "alice"))["lastMessage"]["messageID"] == m5["messageID"]

        # every message of every conversation
        m6 = await send(b1, "alice", "b6")
        await _delivered(a3, m6)
        await a3.request("deleteAllConversationMessages", config=on_server)
        for device in (a1, a2):
            last = (await until(device, lambda e: e["ev"] == "messageDeleted"))[-1]
            assert (last["messageDeleteType"], last["isDeleteConversationAllMessage"]) == (2, True)
            assert await _total(device) == 0
        assert await history(a1, "bob") == [] and await history(a1, "carol") == []
        assert [(c["unreadMessageCount"], c["lastMessage"]) for c in await conversation_list(a1)] == [(0, None), (0, None)]
        assert len(await history(b2, "alice")) == 6
        assert len(await history(c1, "alice")) == 1
        # bob's devices heard nothing of alice's deletions
        [leftover] = await marker(b1, [b2], "alice", "end")
        assert [e["ev"] for e in leftover if e["ev"] == "messageDeleted"] == []
        # the conversations go on with the next seq
        m7 = await send(b1, "alice", "b7")
        assert (await _delivered(a1, m7))[-1]["messageList"][0]["messageSeq"] == 7


async def test_deleting_only_locally_changes_nothing_on_the_server(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a1, a2 = await devices(login, server, "alice", 2)
        (b1,) = await devices(login, server, "bob", 1)
        m1 = await send(b1, "alice", "one")
        m2 = await send(b1, "alice", "two")
        await _delivered(a1, m2)
        await marker(a1, [a2], "bob", "before")
        before = (await conversation_list(a1), await history(a1, "bob"))
        local = {"isAlsoDeleteServerMessage": False}
        assert (await a1.request("deleteMessages", conversationID="bob", conversationType=PEER, messageIDs=[m1["messageID"]], config=local))["ok"]
        await a1.request("deleteMessages", conversationID="bob", conversationType=PEER, messageIDs=[m1["messageID"], m2["messageID"]])
        await a1.request("deleteAllMessage", conversationID="bob", conversationType=PEER, config=local)
        await a1.request("deleteAllConversationMessages", config=local)
        await a1.request("deleteAllConversationMessages")
        assert (await conversation_list(a1), await history(a1, "bob")) == before
        [leftover] = await marker(a1, [a2], "bob", "after")
        assert leftover == []
        assert len(await history(b1, "alice")) == 2


def test_the_conversation_table_keeps_its_unread_total_as_rows_change() -> None:
    table = conv.Table()
    peer, group = (0, "bob"), (2, "g1")
    table[peer] = ConversationRow("bob", 0, unread=3)
    table.update({group: ConversationRow("g1", 2, unread=2)})
    assert table.total_unread == 5
    assert table.total_with({peer: ConversationRow("bob", 0, unread=4)}) == 6 and table.total_unread == 5
    table[peer] = ConversationRow("bob", 0, unread=0)
    table[group] = ConversationRow("g1", 2, unread=2, deleted=True)  # a deleted conversation counts for nothing
    assert table.total_unread == 0
    assert table.total_with({(0, "carol"): ConversationRow("carol", 0, unread=1)}) == 1
