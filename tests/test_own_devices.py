"""Acting on one's own other devices over real WebSockets (PROTOCOL.md §3 "Own devices").

A message for one own device (`toLoginID`) must name another online device
of the sender's account; otherwise the sender gets 1003 and nothing is
stored or delivered, live or on resume.
"""

from __future__ import annotations

import trio

from .conftest import Login, StartServer
from .messaging_support import devices, fails, history, message_ids, send, take_all, until


async def test_to_login_id_naming_no_other_online_own_device_is_refused_and_delivers_nothing(
    start_server: StartServer, login: Login
) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        (b1,) = await devices(login, server, "bob", 1)
        gone = a3.login_id
        assert gone is not None
        await a3.close()
        for device in (a1, a2):
            await device.next_event("selfDevicesChanged")

        not_targets = [gone, "L-nobody", a1.login_id, b1.login_id]
        for target in not_targets:
            await fails(1003, send(a1, "alice", f"to {target}", toLoginID=target))
        # toLoginID names one's own device only in a message to oneself, never in one to another user or a group
        await fails(1003, send(a1, "bob", "to bob's device", toLoginID=b1.login_id))
        await fails(1003, send(a1, "bob", "to my device via bob", toLoginID=a2.login_id))
        await a1.request("createGroup", groupInfo={"groupID": "g-own", "groupName": "g"}, userIDs=["bob"])
        await fails(1003, a1.request(
            "sendMessage", toConversationID="g-own", conversationType=2,
            message={"type": 1, "message": "to one device"}, toLoginID=a2.login_id,
        ))

        # nothing was stored: the next message is the first of the conversation, on every device
        everyone = await send(a1, "alice", "for every device")
        assert everyone["messageSeq"] == 1
        assert message_ids(await until(a2, lambda e: message_ids([e]) == [everyone["messageID"]])) == [everyone["messageID"]]
        await a3.reconnect()
        replayed = await until(a3, lambda e: message_ids([e]) == [everyone["messageID"]])
        assert message_ids(replayed) == [everyone["messageID"]]
        assert [m["messageID"] for m in await history(a3, "alice")] == [everyone["messageID"]]
        assert message_ids(await take_all(b1)) == []
        # a valid target still works after the refusals
        only_a2 = await send(a1, "alice", "for a2", toLoginID=a2.login_id)
        assert message_ids(await until(a2, lambda e: message_ids([e]) == [only_a2["messageID"]])) == [only_a2["messageID"]]


async def test_kick_device_signs_out_another_own_device_through_the_kick_path(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(30):
        a1, a2, a3 = await devices(login, server, "alice", 3)
        (b1,) = await devices(login, server, "bob", 1)
        note = await send(a1, "alice", "before the kick")
        for device in (a2, a3):
            await until(device, lambda e: message_ids([e]) == [note["messageID"]])

        assert (await a1.request("kickDevice", loginID=a2.login_id))["ok"] is True
        kicked = await a2.next_event("connectionStateChanged")
        assert (kicked["state"], kicked["event"]) == (0, 4)
        assert kicked["extendedData"] == {"reason": "self", "byLoginID": a1.login_id, "byPlatform": "iOS"}
        assert await a2.closed() == 4000
        for device in (a1, a3):
            changed = await device.next_event("selfDevicesChanged")
            assert [d["loginID"] for d in changed["devices"]] == [a1.login_id, a3.login_id]
        assert [d["loginID"] for d in (await a3.request("queryDevices"))["devices"]] == [a1.login_id, a3.login_id]
        assert a3.close_code is None and b1.close_code is None

        # the kicked device, another user's device, one's own and unknown loginIDs: 1003, nothing kicked
        for target in (a2.login_id, b1.login_id, a1.login_id, "L-nobody"):
            await fails(1003, a1.request("kickDevice", loginID=target))
        await fails(1003, a1.request("kickDevice"))
        assert [d["loginID"] for d in (await a1.request("queryDevices"))["devices"]] == [a1.login_id, a3.login_id]
        assert message_ids(await take_all(a3)) == [] and await take_all(a1) == []

        # the account's data is untouched: the kicked device logs in again and finds its history
        again = await login(server, "alice", device="alice-Windows", platform="Windows")
        assert [m["messageID"] for m in await history(again, "alice")] == [note["messageID"]]
        for device in (a1, a3):
            assert len((await device.next_event("selfDevicesChanged"))["devices"]) == 3
