"""kill -9 of hubbub: queued notifications are not lost, and devices left online are told offline.

With notifications queued, none is lost: after the restart each arrives, in
order, its delivery ID accepted once. Devices online at the kill get one
userOffline (reason restart) each from the next start.

Runs the real `hubbub serve` in a subprocess against a receiver in the
test; for the first test it answers 500 until the server was killed, so
every call is still queued at the kill.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from hubbub_client import Client

from .cli_support import ADMIN_TOKEN, SECRET, serve_subprocess
from .conftest import token
from .messaging_support import send
from .webhook_support import HOOK_SECRET, Receiver, serve_receiver

SENDS = 30


async def test_queued_notifications_survive_kill_9(nursery: trio.Nursery, tmp_path: Path) -> None:
    receiver = Receiver(status=500)
    await nursery.start(serve_receiver, receiver)
    hooks = ("--webhook-url", receiver.url, "--webhook-secret", HOOK_SECRET, "--webhook-events", "messageSent", "--policy", "multi")
    with trio.fail_after(90):
        async with serve_subprocess(tmp_path, *hooks, name="first") as first:
            alice = Client(first.ws_url, nursery)
            await alice.connect()
            await alice.login("alice", token("alice", secret=SECRET), platform="iOS")
            sent = [(await send(alice, "bob", f"m{index}"))["messageID"] for index in range(SENDS)]
            await receiver.until(lambda r: len(r.calls) >= 1)  # the worker is calling, and failing
            first.process.kill()  # SIGKILL: no shutdown, no flush
            with trio.fail_after(10):
                await first.process.wait()
        assert receiver.accepted == []

        receiver.status = 200
        async with serve_subprocess(tmp_path, *hooks, name="second"):
            await receiver.until(lambda r: len(r.accepted) == SENDS)
        assert [c["message"]["messageID"] for c in receiver.accepted_of("messageSent")] == sent
        accepted = [c.delivery_id for c in receiver.accepted]
        assert len(set(accepted)) == SENDS
        assert {c.delivery_id for c in receiver.calls if c.status == 500} <= set(accepted)  # retries kept their IDs


async def _log_in(url: str, nursery: trio.Nursery, user_id: str, device: str, platform: str) -> Client:
    client = Client(url, nursery)
    await client.connect()
    await client.login(user_id, token(user_id, secret=SECRET), platform=platform, device_id=device)
    return client


async def _queue_emptied(admin_url: str) -> None:
    async with httpx.AsyncClient(base_url=admin_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        while (await admin.get("/v1/webhooks")).json()["waiting"]:  # noqa: ASYNC110  another process's queue, seen through its admin API; bounded by the test's fail_after
            await trio.sleep(0.05)


async def test_devices_online_at_a_kill_9_are_told_offline_once_after_the_restart(nursery: trio.Nursery, tmp_path: Path) -> None:
    receiver = Receiver()
    await nursery.start(serve_receiver, receiver)
    hooks = ("--webhook-url", receiver.url, "--webhook-secret", HOOK_SECRET, "--webhook-events", "userOnline,userOffline", "--policy", "multi")

    def offline() -> list[tuple[str, str, str, str]]:
        return [(o["userID"], o["device"]["deviceID"], o["device"]["loginID"], o["reason"]) for o in receiver.accepted_of("userOffline")]

    with trio.fail_after(120):
        async with serve_subprocess(tmp_path, *hooks, name="first") as first:
            phone = await _log_in(first.ws_url, nursery, "alice", "phone", "iOS")
            desk = await _log_in(first.ws_url, nursery, "alice", "desk", "Mac")
            bob = await _log_in(first.ws_url, nursery, "bob", "tablet", "Android")
            await receiver.until(lambda r: len(r.accepted_of("userOnline")) == 3)
            await _queue_emptied(first.admin_url)  # else a call answered but not yet taken in goes out again after the kill
            first.process.kill()  # SIGKILL: the devices stay recorded online
            await first.process.wait()
        assert offline() == []

        async with serve_subprocess(tmp_path, *hooks, name="second") as second:
            await receiver.until(lambda r: len(offline()) == 3)
            assert sorted(offline()) == sorted([
                ("alice", "phone", phone.login_id, "restart"), ("alice", "desk", desk.login_id, "restart"),
                ("bob", "tablet", bob.login_id, "restart"),
            ])
            (told,) = [o for o in receiver.accepted_of("userOffline") if o["device"]["deviceID"] == "tablet"]
            assert told["device"]["platform"] == "Android" and told["device"]["loginTime"] > 0
            carol = await _log_in(second.ws_url, nursery, "carol", "laptop", "Linux")
            await receiver.until(lambda r: len(r.accepted_of("userOnline")) == 4)
            await _queue_emptied(second.admin_url)  # the receiver answered; now the server has taken each answer in
            second.process.kill()
            await second.process.wait()

        # the third start tells only of carol's device: the others were told once
        receiver.status = 500  # what the start queued stays queued, to be seen
        async with serve_subprocess(tmp_path, *hooks, name="third") as third:
            async with httpx.AsyncClient(base_url=third.admin_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
                queue = (await admin.get("/v1/webhooks")).json()  # queued before the server listened
            assert [(c["event"], c["account"]) for c in queue["calls"]] == [("userOffline", "carol")]
            receiver.status = 200
            await receiver.until(lambda r: len(offline()) == 4)
            assert offline()[3] == ("carol", "laptop", carol.login_id, "restart")
