"""kill -9 of hubbub with notifications queued loses none: after the restart each arrives, in order, its delivery ID accepted once.

Runs the real `hubbub serve` in a subprocess against a receiver in the test
that answers 500 until the server was killed, so every call is still queued
at the kill.
"""

from __future__ import annotations

from pathlib import Path

import trio

from hubbub_client import Client

from .cli_support import SECRET, serve_subprocess
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
