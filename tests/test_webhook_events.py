"""Notifications (PROTOCOL.md §17): each event reaches a real receiver on loopback, signed, as the contract says."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import trio

from gateway.webhooks.signing import sign

from .conftest import ADMIN_TOKEN, Login, StartServer
from .messaging_support import send
from .webhook_support import HOOK_SECRET, Receiver, hooked, serve_receiver

DEVICE_KEYS = {"loginID", "deviceID", "platform", "deviceName", "loginTime"}
OFFLINE_PUSH_KEYS = {"userID", "deviceIDs", "platforms", "messageID", "conversationID", "conversationType", "senderUserID", "preview"}


async def _receiver(nursery: trio.Nursery) -> Receiver:
    receiver = Receiver()
    await nursery.start(serve_receiver, receiver)
    return receiver


async def test_every_event_arrives_signed_and_as_the_contract_says(nursery: trio.Nursery, start_server: StartServer, login: Login) -> None:
    receiver = await _receiver(nursery)
    server = await start_server("multi", **hooked(receiver))
    with trio.fail_after(30):
        bob_phone = await login(server, "bob", device="bob-phone", platform="Android")
        await bob_phone.request("logout")
        alice = await login(server, "alice", device="alice-mac", platform="Mac")
        sent = await send(alice, "bob", "hello bob, this is a message")
        await receiver.until(lambda r: len(r.accepted) >= 5)

        assert [c.event for c in receiver.accepted if c.json.get("userID") == "bob"] == ["userOnline", "userOffline", "offlinePush"]
        for call in receiver.calls:
            assert call.signature == sign(HOOK_SECRET, call.body)  # sha256= and the hex HMAC of the body
        ids = [c.delivery_id for c in receiver.calls]
        assert len(set(ids)) == len(ids) and all(ids)

        online = receiver.accepted_of("userOnline")
        assert [(o["userID"], o["reason"]) for o in online] == [("bob", "login"), ("alice", "login")]
        assert set(online[0]["device"]) == DEVICE_KEYS
        assert online[0]["device"]["deviceID"] == "bob-phone" and online[0]["device"]["platform"] == "Android"
        (offline,) = receiver.accepted_of("userOffline")
        assert offline["userID"] == "bob" and offline["reason"] == "logout" and offline["device"]["deviceID"] == "bob-phone"

        (message_sent,) = receiver.accepted_of("messageSent")
        assert message_sent["userID"] == "alice"
        message = message_sent["message"]
        assert message["messageID"] == sent["messageID"]
        assert (message["conversationID"], message["conversationType"], message["senderUserID"]) == ("bob", 0, "alice")
        assert (message["type"], message["message"], message["binary"]) == (1, "hello bob, this is a message", False)

        (push,) = receiver.accepted_of("offlinePush")
        assert set(push) == OFFLINE_PUSH_KEYS
        assert push == {
            "userID": "bob", "deviceIDs": ["bob-phone"], "platforms": ["Android"], "messageID": sent["messageID"],
            "conversationID": "alice", "conversationType": 0, "senderUserID": "alice", "preview": "hello bob, this is a message",
        }


async def test_offline_push_names_only_devices_not_online_and_group_messages_count(
    nursery: trio.Nursery, start_server: StartServer, login: Login
) -> None:
    receiver = await _receiver(nursery)
    server = await start_server("multi", **hooked(receiver))
    with trio.fail_after(30):
        bob_phone = await login(server, "bob", device="bob-phone", platform="iOS")
        await bob_phone.request("logout")
        bob_desk = await login(server, "bob", device="bob-desk", platform="Windows")
        alice = await login(server, "alice", device="alice-mac", platform="Mac")
        group = await alice.request("createGroup", groupInfo={"groupID": "g1", "groupName": "team"}, userIDs=["bob"])
        assert group["groupInfo"]["groupID"] == "g1"
        reply = await alice.request(
            "sendMessage", toConversationID="g1", conversationType=2, message={"type": 1, "message": "to the team"}
        )
        await bob_desk.next_event("groupMessageReceived")

        def done(r: Receiver) -> bool:
            return bool(r.accepted_of("offlinePush")) and len(r.accepted_of("messageSent")) == 1

        await receiver.until(done)
        (sent,) = receiver.accepted_of("messageSent")
        assert sent["message"]["messageID"] == reply["message"]["messageID"]
        assert (sent["message"]["conversationID"], sent["message"]["conversationType"]) == ("g1", 2)
        (push,) = receiver.accepted_of("offlinePush")  # alice is the sender: no push for her own message
        assert (push["userID"], push["deviceIDs"], push["platforms"]) == ("bob", ["bob-phone"], ["iOS"])
        assert (push["conversationID"], push["conversationType"], push["senderUserID"]) == ("g1", 2, "alice")


async def test_thread_messages_are_told_as_messageSent_and_pushed_to_offline_members(
    nursery: trio.Nursery, start_server: StartServer, login: Login
) -> None:
    receiver = await _receiver(nursery)
    server = await start_server("multi", **hooked(receiver, webhook_events="messageSent,offlinePush"))
    with trio.fail_after(30):
        bob_phone = await login(server, "bob", device="bob-phone", platform="Android")
        await bob_phone.request("logout")
        bob_desk = await login(server, "bob", device="bob-desk", platform="Linux")
        alice = await login(server, "alice", device="alice-mac", platform="Mac")
        await alice.request("createGroup", groupInfo={"groupID": "g2", "groupName": "team"}, userIDs=["bob"])
        parent = await alice.request("sendMessage", toConversationID="g2", conversationType=2, message={"type": 1, "message": "parent"})
        thread = (await alice.request("createThread", groupID="g2", parentMessageID=parent["message"]["messageID"], threadName="t"))["thread"]
        await bob_desk.request("joinThread", threadID=thread["threadID"])
        reply = await alice.request(
            "sendMessage", toConversationID=thread["threadID"], conversationType=3, message={"type": 1, "message": "in the thread"}
        )

        def done(r: Receiver) -> bool:
            return len(r.accepted_of("messageSent")) == 2 and len(r.accepted_of("offlinePush")) == 2

        await receiver.until(done)
        in_thread = receiver.accepted_of("messageSent")[1]  # after the parent's, in alice's order
        assert in_thread["userID"] == "alice" and in_thread["message"]["messageID"] == reply["message"]["messageID"]
        assert (in_thread["message"]["conversationID"], in_thread["message"]["conversationType"]) == (thread["threadID"], 3)
        assert in_thread["message"]["message"] == "in the thread"
        push = receiver.accepted_of("offlinePush")[1]  # bob's phone is not online
        assert (push["userID"], push["deviceIDs"], push["messageID"]) == ("bob", ["bob-phone"], reply["message"]["messageID"])
        assert (push["conversationID"], push["conversationType"], push["preview"]) == (thread["threadID"], 3, "in the thread")


async def test_previews_can_be_turned_off_and_bytes_travel_as_base64(nursery: trio.Nursery, start_server: StartServer, login: Login) -> None:
    receiver = await _receiver(nursery)
    server = await start_server("multi", **hooked(receiver, push_preview=False, webhook_events="messageSent,offlinePush"))
    with trio.fail_after(30):
        bob = await login(server, "bob", device="bob-phone")
        await bob.request("logout")
        alice = await login(server, "alice")
        await send(alice, "bob", b"\x00\x01binary")
        await receiver.until(lambda r: len(r.accepted) >= 2)
        assert {c.event for c in receiver.accepted} == {"messageSent", "offlinePush"}  # only the events asked for
        (push,) = receiver.accepted_of("offlinePush")
        assert push["preview"] is None
        (sent,) = receiver.accepted_of("messageSent")
        message: dict[str, Any] = sent["message"]
        assert message["binary"] is True and base64.b64decode(message["message"]) == b"\x00\x01binary"


async def test_kicks_and_admin_force_offline_say_why(nursery: trio.Nursery, start_server: StartServer, login: Login) -> None:
    receiver = await _receiver(nursery)
    server = await start_server("single", **hooked(receiver, webhook_events="userOffline"))
    with trio.fail_after(30):
        await login(server, "carol", device="first", platform="iOS")
        second = await login(server, "carol", device="second", platform="Android")
        await receiver.until(lambda r: len(r.accepted) >= 1)
        (kicked,) = receiver.accepted_of("userOffline")
        assert (kicked["device"]["deviceID"], kicked["reason"]) == ("first", "kicked:policy")
        assert server.listening is not None and server.listening.admin_url is not None
        async with httpx.AsyncClient() as admin:
            answer = await admin.delete(
                f"{server.listening.admin_url}/v1/users/carol/devices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
        assert answer.status_code == 200
        await receiver.until(lambda r: len(r.accepted) >= 2)
        forced = receiver.accepted_of("userOffline")[1]
        assert (forced["device"]["deviceID"], forced["reason"]) == ("second", "kicked:admin")
        assert second.login_id is not None
