"""A messages-per-second budget per account, shared by all its devices (error 1005)."""

from __future__ import annotations

import trio
import trio.testing

from .cluster_servers import nodes_of
from .conftest import Login, StartServer
from .messaging_support import PATIENT_S, devices, fails, history, jumping, send


async def test_the_account_budget_is_shared_by_its_devices_and_refills(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    autojump_clock.autojump_threshold = PATIENT_S
    server = await start_server("multi", account_messages_per_s=1.0, account_messages_burst=3)
    with trio.fail_after(120):
        a1, a2 = await devices(login, server, "alice", 2)
        (bob,) = await devices(login, server, "bob", 1)
        await send(a1, "bob", "one")
        await send(a2, "bob", "two")
        await send(a1, "bob", "three")
        error = await fails(1005, send(a2, "bob", "four"))  # another device, the same account's budget
        assert "messages per second" in error.message
        await fails(1005, a1.request("sendMessage", toConversationID="bob", conversationType=0, message={"type": 1, "message": "five"}))
        assert [m["message"] for m in await history(a1, "bob")] == ["three", "two", "one"]  # nothing refused was sent
        await send(bob, "alice", "bob has his own budget")
        assert sum(node.account_context.stats["messages_over_account_rate"] for node in nodes_of(server)) == 2
        with jumping(autojump_clock):
            await trio.sleep(1.0)  # one token back
        await send(a2, "bob", "after a second")
        await fails(1005, send(a1, "bob", "too soon"))
