"""The example backend in scripts/webhook_receiver.py: it prints offlinePush on stdout and answers beforeSendMessage."""

from __future__ import annotations

import json

import hypercorn.config
import hypercorn.trio
import pytest
import trio

from scripts.webhook_receiver import build_app

from .conftest import Login, StartServer
from .messaging_support import fails, send
from .webhook_support import HOOK_SECRET


async def test_the_example_receiver_prints_offline_pushes_and_rejects_what_it_is_told_to(
    nursery: trio.Nursery, start_server: StartServer, login: Login, capsys: pytest.CaptureFixture[str]
) -> None:
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    binds: list[str] = await nursery.start(hypercorn.trio.serve, build_app(HOOK_SECRET, ["spam"]), config)
    url = binds[0] + "/hubbub"
    server = await start_server("multi", webhook_url=url, webhook_secret=HOOK_SECRET, before_send=True)
    with trio.fail_after(30):
        bob = await login(server, "bob", device="bob-phone", platform="Android")
        await bob.request("logout")
        alice = await login(server, "alice")
        await fails(6003, send(alice, "bob", "buy spam now"))
        sent = await send(alice, "bob", "lunch?")
        pushed: list[dict[str, object]] = []
        while not pushed:
            await trio.sleep(0.05)
            pushed += [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        assert pushed == [{
            "userID": "bob", "deviceIDs": ["bob-phone"], "platforms": ["Android"], "messageID": sent["messageID"],
            "conversationID": "alice", "conversationType": 0, "senderUserID": "alice", "preview": "lunch?",
        }]
